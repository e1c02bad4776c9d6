/**
 * Reconciler and sync benchmark, on the real Docker test nodes: create-to-running latency through the
 * platform (command → reconciler → Docker → recorded running) against `docker run -d` of the same image
 * on the same node (median of 20 each; target ≤ 1.2×), and one full sync over 3 nodes × 100 running
 * containers (target ≤ 2 s). `npm run bench -- --json` writes bench/results/reconciler.json.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createPool, EventStore, eventStoreMigrations, migrate } from '@tianqi/events';
import { BenchReport, dockerOverTcp, loadTestNodes, openBenchDatabase, percentile } from '@tianqi/infra';
import { ProjectionRunner, platformEvents, projectionMigrations } from '@tianqi/projections';
import pino from 'pino';
import { type CommandContext, createCommands, systemContext } from '../src/commands/index.js';
import { apiMigrations } from '../src/database/connect.js';
import { NodeClients } from '../src/docker/clients.js';
import { LABEL_MANAGED_BY } from '../src/docker/labels.js';
import { NodeHealth } from '../src/docker/node-health.js';
import { Reconciler } from '../src/reconciler/reconciler.js';
import { SecretBox } from '../src/security/secrets.js';
import { SyncService } from '../src/sync/sync-service.js';
import { benchCatalog, registerBenchNode } from './bench-catalog.js';

const RUNS = Number(process.env.TIANQI_BENCH_LATENCY_RUNS ?? 20);
const PER_NODE = Number(process.env.TIANQI_BENCH_SYNC_CONTAINERS ?? 100);
const logger = pino({ level: 'silent' });
const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function main(): Promise<void> {
  const report = new BenchReport('reconciler');
  const { nodes: testNodes, images } = loadTestNodes();
  const db = await openBenchDatabase();
  const pool = createPool(db.url, { max: 30 });
  const store = new EventStore({ pool, registry: platformEvents, connectionString: db.url });
  const runner = new ProjectionRunner({ store });
  let reconciler: Reconciler | undefined;
  const cleanup = async () => {
    for (const t of testNodes) {
      const docker = dockerOverTcp(t);
      const mine = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_MANAGED_BY}=tianqi`] },
      });
      await Promise.all(
        mine.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true, v: true })
            .catch(() => {}),
        ),
      );
      const bare = await docker.listContainers({ all: true, filters: { label: ['tianqi.bench=bare'] } });
      await Promise.all(
        bare.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
    }
  };
  try {
    await migrate(pool, [eventStoreMigrations, projectionMigrations, apiMigrations]);
    await runner.start();
    const commands = createCommands(store, new SecretBox(randomBytes(32)));
    const system = systemContext('bench');
    const { id: userId } = await commands.users.register(
      { username: 'bench', password: 'bench-password' },
      system,
    );
    const owner: CommandContext = { actor: { kind: 'user', userId, role: 'user' } };
    const nodeIds: string[] = [];
    for (const t of testNodes.slice(0, 3))
      nodeIds.push(
        await registerBenchNode(commands, t, { cpuCores: 512, memoryGb: 4096, systemDiskGb: 10_000 }),
      );
    const { imageId, specId } = await benchCatalog(commands, images.sh);
    await runner.waitFor(await store.head());
    reconciler = new Reconciler({
      store,
      pool,
      commands,
      logger,
      networkMode: 'none',
      stopTimeoutSeconds: 0,
      perNode: 8,
    });
    await reconciler.start();
    await cleanup();

    // 1. Create to running, one at a time, against docker run -d on the same node.
    const docker = dockerOverTcp(testNodes[1]!);
    const platformMs: number[] = [];
    const dockerMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      const { id } = await commands.instances.create(
        { name: `lat-${i}`, imageId, specId, nodeId: nodeIds[1] },
        owner,
      );
      while ((await commands.instances.get(id))?.observed !== 'running')
        await new Promise((r) => setTimeout(r, 2));
      platformMs.push(performance.now() - t);
      t = performance.now();
      const c = await docker.createContainer({
        Image: images.sh,
        Tty: true,
        OpenStdin: true,
        Labels: { 'tianqi.bench': 'bare' },
        HostConfig: { NetworkMode: 'none', NanoCpus: 5e8, Memory: 512 * 1024 ** 2 },
      });
      await c.start();
      dockerMs.push(performance.now() - t);
    }
    const p = median(platformMs);
    const d = median(dockerMs);
    report.add({
      name: 'create to running through the platform (median of runs)',
      unit: 'ms',
      value: p,
      params: {
        runs: RUNS,
        p90: Math.round(
          percentile(
            [...platformMs].sort((a, b) => a - b),
            90,
          ),
        ),
      },
      peer: { name: 'docker run -d, same image and node', value: d, ratio: p / d },
      target: { op: '<=', value: 1.2, of: 'ratio' },
    });
    await cleanup();

    // 2. One full sync over 3 nodes × PER_NODE running containers.
    console.error(`making ${3 * PER_NODE} instances`);
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) {
      for (let i = 0; i < PER_NODE; i++) {
        ids.push(
          (
            await commands.instances.create(
              { name: `sync-${n}-${i}`, imageId, specId, nodeId: nodeIds[n] },
              owner,
            )
          ).id,
        );
      }
    }
    for (;;) {
      const states = await Promise.all(ids.map((id) => commands.instances.get(id)));
      if (states.every((s) => s?.observed === 'running')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await runner.waitFor(await store.head());
    const sync = new SyncService({
      pool,
      commands,
      clients: new NodeClients(),
      health: new NodeHealth(),
      policy: 'report',
      logger,
      converge: () => {},
    });
    await sync.runOnce(); // the first: clients made, CPU baselines taken
    const times: number[] = [];
    let sampled = 0;
    for (let i = 0; i < 3; i++) {
      const r = await sync.runOnce();
      times.push(r.ms);
      sampled = r.sampled;
    }
    report.add({
      name: `full sync, 3 nodes × ${PER_NODE} running containers (median of 3)`,
      unit: 'ms',
      value: median(times),
      params: { containers: 3 * PER_NODE, sampled, runs: times.map((t) => Math.round(t)).join(' / ') },
      target: { op: '<=', value: 2000 },
    });
  } finally {
    await reconciler?.stop();
    await cleanup().catch(() => {});
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
