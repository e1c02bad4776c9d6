import { streams } from '@tianqi/domain';
import {
  allProjections,
  auditLog,
  instanceAt,
  instanceHistory,
  LIVE_SCHEMA,
  listInstances,
  listNodes,
  ProjectionRunner,
  rebuildProjections,
  usageByInstance,
  usageByUser,
} from '@tianqi/projections';
import { describe, expect, it } from 'vitest';
import { PlatformMetrics } from '../src/metrics/prometheus.js';
import {
  connectedNode,
  image,
  signUp,
  spec,
  system,
  type TestPlatform,
  usePlatform,
} from './platform-fixture.js';
import { runWorkload } from './workload.js';

const platform = usePlatform(30);

/** Every read model, with the usage read model failing on a batch holding a started container when `fails()`. */
function usageFailingWhen(fails: () => boolean, message: string) {
  return allProjections.map((proj) =>
    proj.name === 'usage'
      ? {
          ...proj,
          apply: async (ctx: Parameters<typeof proj.apply>[0], events: Parameters<typeof proj.apply>[1]) => {
            if (events.some((e) => e.type === 'ContainerStarted') && fails()) throw new Error(message);
            await proj.apply(ctx, events);
          },
        }
      : proj,
  );
}

/** The live read models equal a rebuild of them from the log, row for row. */
async function expectLiveEqualsRebuilt(p: TestPlatform) {
  const live = await dump(p);
  await rebuildProjections(p.store, allProjections);
  expect(await dump(p)).toEqual(live);
}

/** The position of the newest event. */
async function lastPosition(p: TestPlatform) {
  const { rows } = await p.pool.query<{ t: string; p: string }>(
    'SELECT transaction_id::text AS t, position::text AS p FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1',
  );
  return { transactionId: BigInt(rows[0]!.t), position: BigInt(rows[0]!.p) };
}

/** Every row of every read model, in key order, as text: what "equal" means for two builds. */
async function dump(p: TestPlatform): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const projection of allProjections) {
    for (const table of projection.tables) {
      const { rows } = await p.pool.query<{ rows: string | null }>(
        `SELECT json_agg(t ORDER BY ${table.key.join(', ')})::text AS rows FROM ${LIVE_SCHEMA}.${table.name} t`,
      );
      out[table.name] = rows[0]!.rows ?? '[]';
    }
  }
  return out;
}

describe('read models', () => {
  it('rebuilt from 10,000+ events, every read model equals the live one, row for row', async () => {
    const p = platform();
    await runWorkload(p, { instances: 900 });
    await p.settle();
    const { rows } = await p.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM events');
    expect(rows[0]!.n).toBeGreaterThanOrEqual(10_000);
    const live = await dump(p);
    expect(JSON.parse(live.instances!)).toHaveLength(900);
    const result = await rebuildProjections(p.store, allProjections);
    expect(result.events).toBe(rows[0]!.n);
    expect(await dump(p)).toEqual(live);
    // The same with little memory: rows are written out and read back many times along the way.
    await rebuildProjections(p.store, allProjections, { cacheRows: 300, batchSize: 700 });
    expect(await dump(p)).toEqual(live);
  }, 120_000);

  it('the runner applies each event exactly once across a failing batch and a restart', async () => {
    const p = platform();
    await p.runner.stop();
    // A read model that fails once in the middle of a batch, after the other read models have
    // written theirs: the whole transaction, checkpoints included, must roll back.
    let failures = 0;
    const flaky = usageFailingWhen(() => failures === 0 && ++failures === 1, 'simulated crash');
    const errors: Error[] = [];
    const first = new ProjectionRunner({
      store: p.store,
      projections: flaky,
      onError: (e) => errors.push(e),
    });
    await first.start();
    const work = runWorkload(p, { instances: 60, prefix: 'crash', workers: 3 });
    // Restart in the middle of the work, once the failing batch has been rolled back (waiting for it,
    // not for a fixed time: on a loaded machine the first started container can take seconds).
    for (let waited = 0; errors.length === 0 && waited < 60_000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await first.stop();
    const second = new ProjectionRunner({ store: p.store });
    await second.start();
    await work;
    await second.waitFor(await lastPosition(p));
    await second.stop();
    expect(failures).toBe(1);
    expect(errors.map((e) => e.message)).toContain('read model usage failed: simulated crash');
    await expectLiveEqualsRebuilt(p);
    await p.runner.start(); // leave the platform as the other tests expect it
  }, 120_000);

  it('a read model that keeps failing is set aside: the others keep up, and a restart tries it again', async () => {
    const p = platform();
    await p.runner.stop();
    // A read model with a bug: it cannot take a started container, however often it is tried.
    const broken = usageFailingWhen(() => true, 'cannot take this');
    const errors: Error[] = [];
    const runner = new ProjectionRunner({
      store: p.store,
      projections: broken,
      onError: (e) => errors.push(e),
    });
    await runner.start();
    await runWorkload(p, { instances: 20, prefix: 'aside', workers: 2 });
    const last = await lastPosition(p);
    // The others went on to the end; the broken one stopped where it was.
    await runner.waitFor(last);
    const { rows: checkpoints } = await p.pool.query<{ name: string; t: string; p: string }>(
      'SELECT name, transaction_id::text AS t, position::text AS p FROM projection_checkpoints ORDER BY name',
    );
    const atEnd = (c: { t: string; p: string }) =>
      c.t === String(last.transactionId) && c.p === String(last.position);
    expect(checkpoints.filter((c) => !atEnd(c)).map((c) => c.name)).toEqual(['usage']);
    expect(checkpoints.filter(atEnd).length).toBe(allProjections.length - 1);
    expect(runner.failed).toMatchObject([{ name: 'usage', error: 'cannot take this' }]);
    // Prometheus sees it.
    const metrics = new PlatformMetrics();
    metrics.attach({
      pool: p.pool,
      queueDepth: () => 0,
      projectionPosition: () => runner.position,
      readModelsSetAside: () => runner.failed.map((f) => f.name),
    });
    expect(await metrics.registry.metrics()).toContain('tianqi_read_models_set_aside{read_model="usage"} 1');
    expect(
      errors.some((e) =>
        /read model usage failed: cannot take this \(set aside after 3 tries\)/.test(e.message),
      ),
    ).toBe(true);
    await runner.stop();
    // Mended (a new version of the server): a restart takes it from where it stopped.
    const mended = new ProjectionRunner({ store: p.store });
    await mended.start();
    await mended.waitFor(last);
    expect(mended.failed).toEqual([]);
    await mended.stop();
    await expectLiveEqualsRebuilt(p);
    await p.runner.start(); // leave the platform as the other tests expect it
  }, 120_000);

  it('a rebuild while commands keep coming swaps in without losing or doubling an event', async () => {
    const p = platform();
    const [rebuilt] = await Promise.all([
      rebuildProjections(p.store, allProjections, { batchSize: 200 }),
      runWorkload(p, { instances: 150, prefix: 'during', workers: 4 }),
    ]);
    expect(rebuilt.events).toBeGreaterThan(0);
    await p.settle(); // the live runner carries on from the swapped checkpoints
    const live = await dump(p);
    await rebuildProjections(p.store, allProjections);
    expect(await dump(p)).toEqual(live);
    const { rows } = await p.pool.query<{ a: number; e: number }>(
      'SELECT (SELECT count(*)::int FROM rm.audit_log) AS a, (SELECT count(*)::int FROM events) AS e',
    );
    expect(rows[0]!.a).toBe(rows[0]!.e);
  }, 120_000);

  it('a server refuses read models built by a newer definition instead of rebuilding them backwards', async () => {
    const p = platform();
    await p.pool.query(`UPDATE projection_checkpoints SET version = 99 WHERE name = 'users'`);
    try {
      await expect(new ProjectionRunner({ store: p.store }).start()).rejects.toThrow(
        /read model users was built by a newer Tianqi \(definition 99, this one knows 1\)/,
      );
    } finally {
      await p.pool.query(`UPDATE projection_checkpoints SET version = 1 WHERE name = 'users'`);
    }
  });

  it('lists instances by owner, node, state and name, a page at a time', async () => {
    const p = platform();
    const owner = await signUp(p, 'lister');
    const nodeId = await connectedNode(p, {
      name: 'list-node',
      gpuCount: 0,
      gpuModel: null,
      vramGbPerGpu: 0,
    });
    const imageId = await image(p, { name: 'list-img', address: 'busybox' });
    const specId = await spec(p, {
      name: 'list-cpu',
      gpuCount: 0,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 0,
    });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await p.commands.instances.create({ name: `lst_${i}`, imageId, specId, nodeId }, owner)).id);
    }
    await p.commands.instances.request(ids[0]!, 'StopInstance', owner);
    await p.settle();
    const mine = await listInstances(p.pool, { ownerId: owner.actor.userId, limit: 3 });
    expect(mine.total).toBe(7);
    expect(mine.items.map((i) => i.name)).toEqual(['lst_6', 'lst_5', 'lst_4']);
    const page3 = await listInstances(p.pool, { ownerId: owner.actor.userId, limit: 3, offset: 6 });
    expect(page3.items.map((i) => i.name)).toEqual(['lst_0']);
    expect((await listInstances(p.pool, { nodeId, desired: 'stopped' })).items.map((i) => i.name)).toEqual([
      'lst_0',
    ]);
    expect((await listInstances(p.pool, { name: 'LST_3' })).items.map((i) => i.instanceId)).toEqual([ids[3]]);
    expect((await listInstances(p.pool, { name: '%' })).total).toBe(0); // a wildcard is a character here
    await expect(listInstances(p.pool, { limit: 5000 })).rejects.toThrow(/limit/);
  });

  it("an instance's history names each step, actor and address; the audit log filters by actor, type, stream, time", async () => {
    const p = platform();
    const owner = await signUp(p, 'historian');
    const nodeId = await connectedNode(p, { name: 'hist-node', gpuCount: 2 });
    const imageId = await image(p, { name: 'hist-img', address: 'pytorch/pytorch:2.3' });
    const specId = await spec(p, {
      name: 'hist-g1',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 24,
      cpuCores: 2,
      memoryGb: 4,
      systemDiskGb: 10,
      pricePerHour: 2,
    });
    const before = new Date();
    const { id } = await p.commands.instances.create(
      { name: 'hist', imageId, specId, nodeId },
      { ...owner, ip: '198.51.100.9' },
    );
    await p.commands.instances.record(
      id,
      { type: 'RecordContainerCreated', containerId: 'abcdef123456', containerName: 'hist-x' },
      system,
    );
    await p.commands.instances.record(id, { type: 'RecordContainerStarted' }, system);
    await p.commands.instances.request(id, 'DeleteInstance', owner);
    await p.commands.instances.record(id, { type: 'RecordContainerRemoved' }, system);
    await p.settle();
    const history = await instanceHistory(p.pool, id);
    expect(history.map((h) => h.summary)).toEqual([
      'created instance hist from pytorch/pytorch:2.3, spec hist-g1, on node hist-node with GPU 0',
      `allocated GPU 0, 2 cores, 4 GB to instance ${id}`,
      'container hist-x created (abcdef123456)',
      'container running',
      'asked to delete',
      'container removed',
      'resources released',
      `released the resources of instance ${id}`,
    ]);
    expect(history[0]).toMatchObject({
      actorUserId: owner.actor.userId,
      actorName: 'historian',
      actorIp: '198.51.100.9',
    });
    expect(history[2]).toMatchObject({ actorUserId: 'system:test', actorName: null });
    // Each entry carries its event's data, for the web app to say it in the reader's language.
    expect(history[2]!.data).toEqual({ containerId: 'abcdef123456', containerName: 'hist-x' });
    expect(history[1]!.data).toMatchObject({ allocation: { instanceId: id, cpuCores: 2 } });
    const byActor = await auditLog(p.pool, { actorUserId: owner.actor.userId });
    // The global log does not: users' events hold what only the platform reads.
    expect(byActor.items.some((e) => 'data' in e)).toBe(false);
    expect(byActor.items.every((e) => e.actorUserId === owner.actor.userId)).toBe(true);
    expect(byActor.items.map((e) => e.type)).toContain('InstanceDeleteRequested');
    const byType = await auditLog(p.pool, { type: 'ContainerRemoved', from: before });
    expect(byType.items.map((e) => e.streamId)).toEqual([streams.instance(id)]);
    expect((await auditLog(p.pool, { streamId: streams.node(nodeId) })).items.map((e) => e.type)).toEqual([
      'NodeRegistered',
      'NodeDockerStatusChanged',
      'ResourcesAllocated',
      'ResourcesReleased',
    ]);
    expect((await auditLog(p.pool, { to: before, streamId: streams.instance(id) })).items).toEqual([]);
  });

  it('instanceAt gives the state at a past moment from the stream', async () => {
    const p = platform();
    const owner = await signUp(p, 'traveller');
    const nodeId = await connectedNode(p, { name: 'tt-node', gpuCount: 0, gpuModel: null, vramGbPerGpu: 0 });
    const imageId = await image(p, { name: 'tt-img', address: 'busybox' });
    const specId = await spec(p, {
      name: 'tt-cpu',
      gpuCount: 0,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 0,
    });
    const beforeCreate = new Date(Date.now() - 1);
    const { id } = await p.commands.instances.create({ name: 'tt', imageId, specId, nodeId }, owner);
    await p.commands.instances.record(id, { type: 'RecordContainerStarted' }, system);
    await new Promise((r) => setTimeout(r, 20));
    const whileRunning = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await p.commands.instances.request(id, 'StopInstance', owner);
    await p.commands.instances.record(
      id,
      { type: 'RecordContainerExited', exitCode: 0, oomKilled: false },
      system,
    );
    const at = await instanceAt(p.store, id, whileRunning);
    expect(at.state).toMatchObject({ desired: 'running', observed: 'running', name: 'tt' });
    expect(at.version).toBe(2);
    expect((await instanceAt(p.store, id, new Date())).state).toMatchObject({
      desired: 'stopped',
      observed: 'exited',
    });
    await expect(instanceAt(p.store, id, beforeCreate)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('usage: running time × the price at creation, per instance and per user, over a period', async () => {
    const p = platform();
    const owner = await signUp(p, 'payer');
    const nodeId = await connectedNode(p, {
      name: 'bill-node',
      gpuCount: 0,
      gpuModel: null,
      vramGbPerGpu: 0,
    });
    const imageId = await image(p, { name: 'bill-img', address: 'busybox' });
    const specId = await spec(p, {
      name: 'bill-cpu',
      gpuCount: 0,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 3600,
    });
    const { id } = await p.commands.instances.create({ name: 'billed', imageId, specId, nodeId }, owner);
    await p.commands.catalog.updateSpec(specId, { pricePerHour: 7200 }, system); // later price changes do not apply
    for (let round = 0; round < 2; round++) {
      await p.commands.instances.record(id, { type: 'RecordContainerStarted' }, system);
      await new Promise((r) => setTimeout(r, 50));
      await p.commands.instances.record(
        id,
        { type: 'RecordContainerExited', exitCode: 0, oomKilled: false },
        system,
      );
    }
    await p.settle();
    const { rows } = await p.pool.query<{ seconds: number }>(
      `SELECT sum(extract(epoch FROM stopped_at - started_at))::float8 AS seconds FROM rm.usage_intervals WHERE instance_id = $1`,
      [id],
    );
    const seconds = rows[0]!.seconds;
    expect(seconds).toBeGreaterThan(0.09);
    const period = { from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) };
    const [usage] = await usageByInstance(p.pool, { ...period, ownerId: owner.actor.userId });
    expect(usage).toMatchObject({ instanceId: id, pricePerHour: 3600 });
    expect(usage!.seconds).toBeCloseTo(seconds, 6);
    expect(usage!.cost).toBe(Math.round(seconds * 100) / 100); // 3600/h = 1 per second, to the fen
    const [user] = (await usageByUser(p.pool, period)).filter((u) => u.ownerId === owner.actor.userId);
    expect(user).toMatchObject({ instances: 1 });
    expect(user!.cost).toBe(Math.round(seconds * 100) / 100);
    expect(
      await usageByInstance(p.pool, { from: new Date(0), to: new Date(1000), ownerId: owner.actor.userId }),
    ).toEqual([]);
    await expect(usageByUser(p.pool, { from: period.to, to: period.from })).rejects.toThrow(
      /must end after it starts/,
    );
  });

  it('nodes show capacity used and free, and the card map', async () => {
    const p = platform();
    const owner = await signUp(p, 'mapper');
    const nodeId = await connectedNode(p, {
      name: 'map-node',
      gpuCount: 2,
      hamiCoreDir: '/opt/hami',
      cpuCores: 16,
      memoryGb: 64,
    });
    const imageId = await image(p, { name: 'map-img', address: 'busybox', supportsSlicing: true });
    const whole = await spec(p, {
      name: 'map-g1',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 24,
      cpuCores: 4,
      memoryGb: 16,
      systemDiskGb: 10,
      pricePerHour: 1,
    });
    const slice = await spec(p, {
      name: 'map-s8',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 8,
      slice: true,
      cpuCores: 2,
      memoryGb: 8,
      systemDiskGb: 10,
      pricePerHour: 1,
    });
    const a = await p.commands.instances.create({ name: 'whole', imageId, specId: whole, nodeId }, owner);
    const b = await p.commands.instances.create({ name: 'slice', imageId, specId: slice, nodeId }, owner);
    await p.settle();
    const node = (await listNodes(p.pool)).find((n) => n.nodeId === nodeId)!;
    expect(node).toMatchObject({
      instanceCount: 2,
      cpuUsed: 6,
      memoryUsedGb: 24,
      gpusFree: 0,
      dockerStatus: 'connected',
    });
    expect(node.gpuMap).toEqual([
      { index: 0, wholeBy: a.id, slices: [], vramFreeGb: 0 },
      { index: 1, wholeBy: null, slices: [{ instanceId: b.id, vramGb: 8, smPercent: 34 }], vramFreeGb: 16 },
    ]);
    // Each allocation is a row of its own, as the node's stream holds it.
    const rows = async () =>
      (
        await p.pool.query(
          'SELECT instance_id, cpu_cores, memory_gb, gpus FROM rm.node_allocations WHERE node_id = $1 ORDER BY allocated_at',
          [nodeId],
        )
      ).rows;
    expect(await rows()).toEqual([
      { instance_id: a.id, cpu_cores: 4, memory_gb: 16, gpus: { kind: 'whole', indices: [0] } },
      {
        instance_id: b.id,
        cpu_cores: 2,
        memory_gb: 8,
        gpus: { kind: 'slice', indices: [1], vramGb: 8, smPercent: 34 },
      },
    ]);

    // The slice given back: its row goes, the totals and the map lose it, the card is free again.
    await p.commands.instances.request(b.id, 'DeleteInstance', owner);
    await p.commands.instances.record(b.id, { type: 'RecordContainerRemoved' }, system);
    await p.settle();
    const after = (await listNodes(p.pool)).find((n) => n.nodeId === nodeId)!;
    expect(after).toMatchObject({ instanceCount: 1, cpuUsed: 4, memoryUsedGb: 16, gpusFree: 1 });
    expect(after.gpuMap).toEqual([
      { index: 0, wholeBy: a.id, slices: [], vramFreeGb: 0 },
      { index: 1, wholeBy: null, slices: [], vramFreeGb: 24 },
    ]);
    expect((await rows()).map((r) => r.instance_id)).toEqual([a.id]);
    expect((await p.commands.nodes.get(nodeId))!.allocations.map((x) => x.instanceId)).toEqual([a.id]);
    await expectLiveEqualsRebuilt(p);
  });

  it('the GPU map of a node that shrinks and grows back shows its holders again', async () => {
    const p = platform();
    const owner = await signUp(p, 'shrinker');
    const nodeId = await connectedNode(p, { name: 'shrink-node', gpuCount: 2 });
    const imageId = await image(p, { name: 'shrink-img', address: 'busybox' });
    const two = await spec(p, {
      name: 'shrink-g2',
      gpuModel: 'RTX 4090',
      gpuCount: 2,
      vramGb: 24,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 10,
      pricePerHour: 1,
    });
    const held = await p.commands.instances.create({ name: 'both', imageId, specId: two, nodeId }, owner);
    await p.commands.nodes.update(nodeId, { gpuCount: 1 }, system);
    await p.settle();
    const map = async () => (await listNodes(p.pool)).find((n) => n.nodeId === nodeId)!.gpuMap;
    expect(await map()).toEqual([{ index: 0, wholeBy: held.id, slices: [], vramFreeGb: 0 }]);
    await p.commands.nodes.update(nodeId, { gpuCount: 2 }, system);
    await p.settle();
    expect(await map()).toEqual([
      { index: 0, wholeBy: held.id, slices: [], vramFreeGb: 0 },
      { index: 1, wholeBy: held.id, slices: [], vramFreeGb: 0 },
    ]);
  });
});
