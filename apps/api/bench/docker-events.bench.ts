/**
 * Observed-state lag through the Docker event stream, on a real Docker test node: a running instance's
 * container killed (`docker kill`) or stopped (`docker stop -t 0`) by hand with the docker CLI on the
 * node's socket, timed from the CLI call to the read model showing it exited (p50 and p99 of
 * TIANQI_BENCH_EVENTS_RUNS each, default 50; target p99 ≤ 1 s), beside the CLI call itself measured in
 * the same run, and the sync interval (30 s), which was the lag at worst before. No sync runs here.
 * `npm run bench -- --json` writes bench/results/docker-events.json.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPool, EventStore, eventStoreMigrations, migrate } from '@tianqi/events';
import { BenchReport, loadTestNodes, openBenchDatabase, percentile } from '@tianqi/infra';
import { ProjectionRunner, platformEvents, projectionMigrations } from '@tianqi/projections';
import type pg from 'pg';
import pino from 'pino';
import { type CommandContext, createCommands, systemContext } from '../src/commands/index.js';
import { apiMigrations } from '../src/database/connect.js';
import { NodeClients } from '../src/docker/clients.js';
import { Reconciler } from '../src/reconciler/reconciler.js';
import { SecretBox } from '../src/security/secrets.js';
import { EventFollowers } from '../src/sync/event-followers.js';
import { benchCatalog, registerBenchNode } from './bench-catalog.js';

const RUNS = Number(process.env.TIANQI_BENCH_EVENTS_RUNS ?? 50);
const SYNC_INTERVAL_MS = 30_000;
const run = promisify(execFile);
const logger = pino({ level: 'silent' });
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** Polls the read model (what the web app reads) until the instance shows `want`. */
async function shown(pool: pg.Pool, id: string, want: string): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ observed: string }>(
      'SELECT observed FROM rm.instances WHERE instance_id = $1',
      [id],
    );
    if (rows[0]?.observed === want) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function main(): Promise<void> {
  const report = new BenchReport('docker-events');
  const { nodes: testNodes, images } = loadTestNodes();
  const node = testNodes[0]!;
  const db = await openBenchDatabase();
  const pool = createPool(db.url, { max: 20 });
  const store = new EventStore({ pool, registry: platformEvents, connectionString: db.url });
  const runner = new ProjectionRunner({ store });
  let reconciler: Reconciler | undefined;
  let followers: EventFollowers | undefined;
  let instanceId: string | undefined;
  const system = systemContext('bench');
  const commands = createCommands(store, new SecretBox(randomBytes(32)));
  try {
    await migrate(pool, [eventStoreMigrations, projectionMigrations, apiMigrations]);
    await runner.start();
    const { id: userId } = await commands.users.register(
      { username: 'bench', password: 'bench-password' },
      system,
    );
    const owner: CommandContext = { actor: { kind: 'user', userId, role: 'user' } };
    const nodeId = await registerBenchNode(commands, node, { cpuCores: 16, memoryGb: 64, systemDiskGb: 100 });
    const { imageId, specId } = await benchCatalog(commands, images.sh);
    // Under "report" a killed container stays exited until converged: one state change per run.
    const live = new Reconciler({
      store,
      pool,
      commands,
      logger,
      networkMode: 'none',
      stopTimeoutSeconds: 0,
      driftPolicy: 'report',
    });
    reconciler = live;
    await live.start();
    followers = new EventFollowers({
      pool,
      commands,
      clients: new NodeClients(),
      policy: 'report',
      logger,
      converge: (ids) => live.converge(ids),
      betweenPasses: (id, work) => live.betweenPasses(id, work),
    });
    await followers.follow(nodeId);
    instanceId = (await commands.instances.create({ name: 'lag', imageId, specId, nodeId }, owner)).id;
    await shown(pool, instanceId, 'running');
    while (followers.connected === 0) await new Promise((r) => setTimeout(r, 10));

    const cli = (...args: string[]) => run('docker', ['-H', `unix://${node.socketPath}`, ...args]);
    for (const [what, args] of [
      ['docker kill', ['kill']],
      ['docker stop -t 0', ['stop', '-t', '0']],
    ] as const) {
      const lag: number[] = [];
      const call: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const { containerId } = (await commands.instances.get(instanceId))!;
        const t0 = performance.now();
        const killed = cli(...args, containerId!).then(() => call.push(performance.now() - t0));
        await shown(pool, instanceId, 'exited');
        lag.push(performance.now() - t0);
        await killed;
        live.converge([instanceId]);
        await shown(pool, instanceId, 'running');
      }
      const lagSorted = sorted(lag);
      const callSorted = sorted(call);
      // The CLI's own start-up is most of a call: the lag after it returned says what the platform adds.
      const after = sorted(lag.map((l, i) => l - call[i]!));
      report.add({
        name: `${what} by hand to shown exited, p50 of ${RUNS}`,
        unit: 'ms',
        value: percentile(lagSorted, 50),
        params: { runs: RUNS, from: 'the call' },
        peer: {
          name: `the ${what} call itself, p50`,
          value: percentile(callSorted, 50),
          ratio: percentile(lagSorted, 50) / percentile(callSorted, 50),
        },
      });
      report.add({
        name: `${what} by hand to shown exited, p99 of ${RUNS}`,
        unit: 'ms',
        value: percentile(lagSorted, 99),
        params: { runs: RUNS, from: 'the call', max: Math.round(lagSorted.at(-1)!) },
        peer: {
          name: 'the sync interval (the lag at worst without events)',
          value: SYNC_INTERVAL_MS,
          ratio: percentile(lagSorted, 99) / SYNC_INTERVAL_MS,
        },
        target: { op: '<=', value: 1000 },
      });
      report.add({
        name: `${what}: shown exited after the call returned, p99 of ${RUNS}`,
        unit: 'ms',
        value: percentile(after, 99),
        params: { runs: RUNS, p50: Math.round(percentile(after, 50)) },
        peer: {
          name: `the ${what} call itself, p99`,
          value: percentile(callSorted, 99),
          ratio: percentile(after, 99) / percentile(callSorted, 99),
        },
      });
    }
  } finally {
    if (instanceId) await commands.instances.request(instanceId, 'DeleteInstance', system).catch(() => {});
    if (instanceId && reconciler) {
      const deadline = Date.now() + 20_000;
      while (!(await commands.instances.get(instanceId))?.volumesRemoved && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
    }
    await followers?.stop();
    await reconciler?.stop();
    await runner.stop();
    await store.close();
    await pool.end();
    await db.drop();
  }
  report.finish(process.argv.slice(2), fileURLToPath(new URL('../../../', import.meta.url)));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
