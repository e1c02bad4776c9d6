/**
 * Domain benchmark: instance creates per second through the scheduler with contention (1, 8 and 32
 * concurrent creators, all packed onto the same node's stream by best fit), beside the bare append of
 * the same three streams; then a full rebuild of every read model from the log, beside readAll over
 * the same events (target: rebuild ≥ 50 % of readAll). `npm run bench -- --json` writes
 * bench/results/domain.json. `--only=creates` or `--only=rebuild` runs one of the two sections.
 *
 * Uses TIANQI_BENCH_DATABASE_URL when set, else a private stock PostgreSQL (durable commits).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { streams } from '@tianqi/domain';
import {
  createPool,
  EventStore,
  eventStoreMigrations,
  type GlobalPosition,
  migrate,
  START,
} from '@tianqi/events';
import { BenchReport, openBenchDatabase, timed as timedFor } from '@tianqi/infra';
import {
  allProjections,
  type PlatformStore,
  ProjectionRunner,
  platformEvents,
  projectionMigrations,
  type RebuildResult,
  rebuildProjections,
} from '@tianqi/projections';
import { type CommandContext, type Commands, createCommands, systemContext } from '../src/commands/index.js';
import { SecretBox } from '../src/security/secrets.js';
import { bareAppend } from './bare-append.js';

const SECONDS = Number(process.env.TIANQI_BENCH_SECONDS ?? 4);
const REBUILD_EVENTS = Number(process.env.TIANQI_BENCH_REBUILD_EVENTS ?? 100_000);
const system = systemContext('bench');
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
if (ONLY !== undefined && ONLY !== 'creates' && ONLY !== 'rebuild') {
  throw new Error(`--only=${ONLY}: the sections are creates and rebuild`);
}

const timed = (workers: number, op: Parameters<typeof timedFor>[2]) => timedFor(workers, SECONDS, op);

/**
 * Whole instance lifecycles appended straight to the store (as the commands would write them, 12
 * events each over the instance, its node and its name claim), to fill the log quickly for the rebuild.
 */
async function fillLifecycles(
  store: PlatformStore,
  nodeId: string,
  ownerId: string,
  total: number,
): Promise<void> {
  const have = Number((await store.pool.query('SELECT count(*) AS n FROM events')).rows[0].n);
  const meta = { metadata: { actorUserId: ownerId, actorIp: '127.0.0.1' } };
  for (let n = 0, made = have; made < total; n++) {
    const id = randomBytes(6).toString('hex');
    const name = `life-${n}`;
    const allocation = {
      instanceId: id,
      cpuCores: 1,
      memoryGb: 2,
      systemDiskGb: 10,
      dataDiskGb: 0,
      gpus: { kind: 'whole' as const, indices: [n % 8] },
    };
    const claim = streams.name('instance', randomBytes(20).toString('hex'));
    const inst = streams.instance(id);
    const node = streams.node(nodeId);
    await store.appendMany(
      [
        {
          streamId: inst,
          expectedVersion: 'no_stream',
          events: [
            {
              type: 'InstanceCreated',
              data: {
                instanceId: id,
                name,
                ownerId,
                remark: '',
                image: { imageId: 'benchimage01', name: 'bench', address: 'busybox' },
                spec: {
                  specId: 'benchspec001',
                  name: 'g1',
                  gpuModel: 'RTX 4090',
                  gpuCount: 1,
                  vramGb: 24,
                  slice: false,
                  cpuCores: 1,
                  memoryGb: 2,
                  systemDiskGb: 10,
                  dataDiskGb: 0,
                  pricePerHour: 2,
                },
                node: { nodeId, name: 'bench-node' },
                allocation,
              },
            },
            {
              type: 'ContainerCreated',
              data: { containerId: randomBytes(6).toString('hex'), containerName: `${name}-${id}` },
            },
            { type: 'ContainerStarted', data: {} },
            { type: 'ContainerExited', data: { exitCode: 0, oomKilled: false } },
            { type: 'InstanceDeleteRequested', data: {} },
            { type: 'ContainerRemoved', data: {} },
            { type: 'AllocationReleased', data: { nodeId } },
            { type: 'VolumesRemoved', data: { volumes: [`tianqi-${id}-data`] } },
          ],
        },
        {
          streamId: node,
          expectedVersion: 'any',
          events: [
            { type: 'ResourcesAllocated', data: { allocation } },
            { type: 'ResourcesReleased', data: { instanceId: id } },
          ],
        },
        {
          streamId: claim,
          expectedVersion: 'no_stream',
          events: [
            { type: 'NameClaimed', data: { scope: `instance.${ownerId}`, name, holderId: id } },
            { type: 'NameReleased', data: { holderId: id } },
          ],
        },
      ],
      meta,
    );
    made += 12;
  }
}

async function readAllRate(
  store: PlatformStore,
  batchSize: number,
): Promise<{ rate: number; events: number }> {
  const started = performance.now();
  let position: GlobalPosition = START;
  let events = 0;
  for (;;) {
    const batch = await store.readAll(position, batchSize);
    if (batch.events.length === 0) break;
    events += batch.events.length;
    position = batch.next;
  }
  return { rate: events / ((performance.now() - started) / 1000), events };
}

async function main(): Promise<void> {
  const report = new BenchReport('domain');
  const db = await openBenchDatabase();
  const pool = createPool(db.url, { max: 40 });
  const store = new EventStore({ pool, registry: platformEvents, connectionString: db.url });
  let runner: ProjectionRunner | undefined;
  try {
    await migrate(pool, [eventStoreMigrations, projectionMigrations]);
    runner = new ProjectionRunner({ store });
    await runner.start();
    const commands = createCommands(store, new SecretBox(randomBytes(32)));
    const { id: ownerId } = await commands.users.register(
      { username: 'bench', password: 'bench-password' },
      system,
    );
    const owner: CommandContext = { actor: { kind: 'user', userId: ownerId, role: 'user' } };
    const imageId = (await commands.catalog.registerImage({ name: 'bench', address: 'busybox' }, system)).id;
    const specId = (
      await commands.catalog.createSpec(
        { name: 'cpu-0.5', gpuCount: 0, cpuCores: 0.5, memoryGb: 0.5, systemDiskGb: 1, pricePerHour: 0.1 },
        system,
      )
    ).id;
    // Four big nodes: best fit packs every create onto the fullest one, so creators meet on its stream.
    for (let i = 0; i < 4; i++) {
      const { id } = await commands.nodes.register(
        {
          name: `bench-${i}`,
          cpuCores: 4096,
          memoryGb: 65_536,
          systemDiskGb: 1_048_576,
          gpuCount: 0,
          dockerAddress: 'unix:///var/run/docker.sock',
        },
        system,
      );
      await commands.nodes.recordDockerStatus(id, 'connected', '', system);
    }
    await runner.waitFor(await store.head());

    let n = 0;
    if (ONLY !== 'rebuild') console.error('creates through the scheduler');
    for (const creators of ONLY === 'rebuild' ? [] : [1, 8, 32]) {
      const before = await conflictsSoFar(pool);
      const rate = await timed(creators, async () => {
        await commands.instances.create({ name: `c${creators}-${n++}`, imageId, specId }, owner);
      });
      const bareRate = await timed(creators, bareAppend(store, String(creators)));
      report.add({
        name: `instance create through the scheduler, ${creators} concurrent creator(s)`,
        unit: 'creates/s',
        value: rate,
        params: {
          creators,
          seconds: SECONDS,
          nodes: 4,
          policy: 'best fit',
          rolledBackTransactions: (await conflictsSoFar(pool)) - before,
        },
        peer: { name: 'bare 3-stream append', value: bareRate, ratio: rate / bareRate },
      });
    }

    if (ONLY !== 'creates') await rebuildRows(report, store, runner, commands, ownerId);
  } finally {
    await runner?.stop();
    await store.close();
    await pool.end();
    await db.drop();
  }
  report.finish(process.argv.slice(2), fileURLToPath(new URL('../../../', import.meta.url)));
}

/**
 * The log filled to REBUILD_EVENTS with whole lifecycles, then every read model rebuilt from it, beside
 * readAll over the same events. Stops the runner (a rebuild runs beside no live one here).
 */
async function rebuildRows(
  report: BenchReport,
  store: PlatformStore,
  runner: ProjectionRunner,
  commands: Commands,
  ownerId: string,
): Promise<void> {
  console.error(`filling the log to ${REBUILD_EVENTS.toLocaleString('en')} events`);
  const benchNode = (
    await commands.nodes.register(
      {
        name: 'bench-gpu',
        cpuCores: 64,
        memoryGb: 512,
        systemDiskGb: 1000,
        gpuModel: 'RTX 4090',
        gpuCount: 8,
        vramGbPerGpu: 24,
        dockerAddress: 'unix:///var/run/docker.sock',
      },
      system,
    )
  ).id;
  await fillLifecycles(store, benchNode, ownerId, REBUILD_EVENTS);
  await runner.waitFor(await store.head());
  await runner.stop();

  console.error('rebuild against readAll');
  // Both sides measured three times in turn, the median kept: on a small machine one run of either
  // swings by a fifth.
  const reads: number[] = [];
  const rebuilds: RebuildResult[] = [];
  for (let round = 0; round < 3; round++) {
    reads.push((await readAllRate(store, 5_000)).rate);
    rebuilds.push(await rebuildProjections(store, allProjections));
  }
  const readRate = median(reads);
  const rebuilt = rebuilds.sort((x, y) => x.events / x.seconds - y.events / y.seconds)[1]!;
  const rebuildRate = rebuilt.events / rebuilt.seconds;
  report.add({
    name: 'full rebuild of every read model (median of 3)',
    unit: 'events/s',
    value: rebuildRate,
    params: {
      events: rebuilt.events,
      readModels: allProjections.length,
      batch: 5_000,
      runs: rebuilds.map((r) => Math.round(r.events / r.seconds)).join(' / '),
      readAllRuns: reads.map((r) => Math.round(r)).join(' / '),
      ...Object.fromEntries(Object.entries(rebuilt.phases).map(([k, v]) => [k, Math.round(v)])),
    },
    peer: {
      name: 'readAll, same events and batch (median of 3)',
      value: readRate,
      ratio: rebuildRate / readRate,
    },
    target: { op: '>=', value: 0.5, of: 'ratio' },
  });
  const read = { rate: readRate };
  for (const p of allProjections) {
    const one = await rebuildProjections(store, [p]);
    report.add({
      name: `rebuild of ${p.name} alone`,
      unit: 'events/s',
      value: one.events / one.seconds,
      params: { events: one.events },
      peer: { name: 'readAll', value: read.rate, ratio: one.events / one.seconds / read.rate },
    });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Transactions rolled back so far: each refused append (a stale expected version) is one. */
async function conflictsSoFar(pool: import('pg').Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT coalesce(sum(xact_rollback), 0)::text AS n FROM pg_stat_database WHERE datname = current_database()`,
  );
  return Number(rows[0]!.n);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
