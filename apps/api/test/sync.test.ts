import { loadTestNodes } from '@tianqi/infra';
import { listDrift } from '@tianqi/projections';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClients } from '../src/docker/clients.js';
import { LABEL_INSTALLATION, LABEL_INSTANCE, LABEL_MANAGED_BY } from '../src/docker/labels.js';
import { NodeHealth } from '../src/docker/node-health.js';
import type { Reconciler } from '../src/reconciler/reconciler.js';
import { cpuPercent, memoryUsed } from '../src/sync/metrics.js';
import type { DriftPolicy } from '../src/sync/node-sync.js';
import { LIVE_FRESH_MS, SyncService } from '../src/sync/sync-service.js';
import {
  containersOf,
  installationOf,
  observed,
  register,
  startReconciler,
  until,
} from './docker-fixture.js';
import { image, signUp, spec, system, usePlatform } from './platform-fixture.js';

const platform = usePlatform();
const testNodes = loadTestNodes();
const logger = pino({ level: 'silent' });
let reconciler: Reconciler;
let node: Awaited<ReturnType<typeof register>>;
let owner: Awaited<ReturnType<typeof signUp>>;
let imageId: string;
let specId: string;

function syncWith(policy: DriftPolicy, health = new NodeHealth()) {
  const p = platform();
  return new SyncService({
    pool: p.pool,
    commands: p.commands,
    clients: new NodeClients(),
    health,
    policy,
    logger,
    converge: (ids) => reconciler.converge(ids),
    wake: (ids) => reconciler.wake(ids),
  });
}

/** A running instance on the test node, through the platform. */
async function runningInstance(name: string) {
  const p = platform();
  const { id } = await p.commands.instances.create({ name, imageId, specId, nodeId: node.id }, owner);
  return observed(p, id, 'running');
}

beforeAll(async () => {
  const p = platform();
  owner = await signUp(p, 'syncowner');
  node = await register(p, testNodes.nodes[2]!, { name: 'sync-node' });
  imageId = await image(p, { name: 'sync-busybox', address: testNodes.images.sh });
  specId = await spec(p, {
    name: 'sync-cpu',
    gpuCount: 0,
    cpuCores: 0.5,
    memoryGb: 0.5,
    systemDiskGb: 1,
    pricePerHour: 0.1,
  });
  await p.settle();
  reconciler = await startReconciler(p);
});
afterAll(async () => {
  await reconciler?.stop();
  for (const c of await node.docker.listContainers({
    all: true,
    filters: { label: [`${LABEL_MANAGED_BY}=tianqi`] },
  })) {
    await node.docker.getContainer(c.Id).remove({ force: true, v: true });
  }
});

describe('the sync against a real Docker node', () => {
  it('a `docker stop` by hand is seen in one sync as exited and as drift; healing restarts it; the next sync closes the drift', async () => {
    const p = platform();
    const inst = await runningInstance('stopped_by_hand');
    await node.docker.getContainer(inst.containerId!).stop({ t: 0 });
    const sync = syncWith('heal');
    await sync.runOnce();
    const after = (await p.commands.instances.get(inst.instanceId))!;
    expect(after.drifts).toContain('exited');
    await observed(p, inst.instanceId, 'running'); // the reconciler started it again
    await sync.runOnce();
    expect((await p.commands.instances.get(inst.instanceId))!.drifts).toEqual([]);
    await p.settle();
    const history = (await listDrift(p.pool, { includeResolved: true })).filter(
      (d) => d.instanceId === inst.instanceId,
    );
    expect(history).toEqual([expect.objectContaining({ kind: 'exited', open: false })]);
  });

  it('a `docker rm -f` by hand is drift "missing"; report-only leaves it, heal makes a new container', async () => {
    const p = platform();
    const inst = await runningInstance('removed_by_hand');
    await node.docker.getContainer(inst.containerId!).remove({ force: true });
    reconciler.driftPolicy = 'report';
    await syncWith('report').runOnce();
    expect((await p.commands.instances.get(inst.instanceId))!).toMatchObject({
      observed: 'removed',
      drifts: ['missing'],
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(await containersOf(node.docker, inst.instanceId)).toEqual([]); // reported, not healed
    reconciler.driftPolicy = 'heal';
    await syncWith('heal').runOnce();
    const healed = await observed(p, inst.instanceId, 'running');
    expect(healed.containerId).not.toBe(inst.containerId);
    expect(await containersOf(node.docker, inst.instanceId)).toHaveLength(1);
  });

  it('a `docker start` by hand of a stopped instance is drift "running"; healing stops it again', async () => {
    const p = platform();
    const inst = await runningInstance('started_by_hand');
    await p.commands.instances.request(inst.instanceId, 'StopInstance', owner);
    await observed(p, inst.instanceId, 'exited');
    await node.docker.getContainer(inst.containerId!).start();
    await syncWith('heal').runOnce();
    expect((await p.commands.instances.get(inst.instanceId))!.drifts).toContain('running');
    await observed(p, inst.instanceId, 'exited');
    expect((await node.docker.getContainer(inst.containerId!).inspect()).State.Running).toBe(false);
  });

  it('a container of an instance found on another node is drift "wrong node" there, and an orphan of that node', async () => {
    const p = platform();
    const inst = await runningInstance('misplaced');
    const other = await register(p, testNodes.nodes[1]!, { name: 'sync-other' });
    await p.settle();
    const copy = await other.docker.createContainer({
      Image: testNodes.images.sh,
      Cmd: ['sleep', '600'],
      Labels: {
        [LABEL_MANAGED_BY]: 'tianqi',
        [LABEL_INSTALLATION]: await installationOf(platform()),
        [LABEL_INSTANCE]: inst.instanceId,
      },
      HostConfig: { NetworkMode: 'none' },
    });
    await copy.start();
    try {
      await syncWith('report').runOnce();
      expect((await p.commands.instances.get(inst.instanceId))!.drifts).toContain('wrong_node');
      expect((await p.commands.nodes.get(other.id))!.orphans).toEqual([copy.id]);
    } finally {
      await copy.remove({ force: true });
      // That daemon serves other test files too: a later sync with "heal" must not take their
      // containers for orphans of this platform.
      await p.commands.nodes.delete(other.id, system);
      await p.settle();
    }
  });

  it('an exit on its own is recorded with its exit code and OOM flag', async () => {
    const p = platform();
    const inst = await runningInstance('exits_itself');
    await node.docker.getContainer(inst.containerId!).kill({ signal: 'SIGKILL' });
    // The kill is answered once the signal is sent: the sync looks once the container is down.
    await until(
      'the container to be down',
      async () => !(await node.docker.getContainer(inst.containerId!).inspect()).State.Running,
    );
    await syncWith('report').runOnce();
    await p.settle();
    const { rows } = await p.pool.query(
      `SELECT data FROM events WHERE stream_id = $1 AND type = 'ContainerExited' ORDER BY position DESC LIMIT 1`,
      [`instance-${inst.instanceId}`],
    );
    expect(rows[0].data).toEqual({ exitCode: 137, oomKilled: false });
  });

  it('an orphan made by hand with the managed labels is reported, and removed under heal', async () => {
    const p = platform();
    const stray = await node.docker.createContainer({
      Image: testNodes.images.sh,
      Cmd: ['sleep', '600'],
      Labels: {
        [LABEL_MANAGED_BY]: 'tianqi',
        [LABEL_INSTALLATION]: await installationOf(platform()),
        [LABEL_INSTANCE]: 'nobody000001',
      },
      HostConfig: { NetworkMode: 'none' },
    });
    await stray.start();
    await syncWith('report').runOnce();
    expect((await p.commands.nodes.get(node.id))!.orphans).toEqual([stray.id]);
    await p.settle();
    expect((await listDrift(p.pool)).filter((d) => d.kind === 'orphan')).toEqual([
      expect.objectContaining({ containerId: stray.id, instanceId: 'nobody000001', open: true }),
    ]);
    await syncWith('heal').runOnce(); // removes it
    await syncWith('heal').runOnce(); // sees it gone
    expect((await p.commands.nodes.get(node.id))!.orphans).toEqual([]);
    expect(await containersOf(node.docker, 'nobody000001')).toEqual([]);
  });

  it('samples running containers: memory without cache, and CPU % from the second sample on', async () => {
    const inst = await runningInstance('sampled');
    const sync = syncWith('report');
    await sync.runOnce();
    await sync.runOnce();
    const latest = sync.metrics.latest(inst.instanceId);
    expect(latest).toMatchObject({ memoryLimitBytes: 512 * 1024 ** 2 });
    expect(latest!.memoryUsedBytes).toBeGreaterThan(0);
    expect(latest!.pids).toBeGreaterThanOrEqual(1);
    expect(typeof latest!.cpuPercent).toBe('number');
    expect(sync.metrics.series(inst.instanceId)).toHaveLength(2);
  });

  it('viewers of one instance share its live samples: ten at once get one, a look a moment later the same', async () => {
    const inst = await runningInstance('watched');
    const sync = syncWith('report');
    const together = await Promise.all(Array.from({ length: 10 }, () => sync.sampleNow(inst.instanceId)));
    expect(together[0]).toMatchObject({ memoryLimitBytes: 512 * 1024 ** 2 });
    expect(new Set(together.map((x) => x!.at)).size).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect((await sync.sampleNow(inst.instanceId))!.at).toBe(together[0]!.at);
    // Once it is older than a live view allows, the next look takes a new one.
    await new Promise((r) => setTimeout(r, LIVE_FRESH_MS));
    expect((await sync.sampleNow(inst.instanceId))!.at).toBeGreaterThan(together[0]!.at);
  });

  it("reads a GPU instance's memory with nvidia-smi inside it, or falls back to its limit without one", async () => {
    const p = platform();
    const gpuSpec = await spec(p, {
      name: 'sync-g1',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 24,
      cpuCores: 0.5,
      memoryGb: 0.5,
      systemDiskGb: 1,
      pricePerHour: 1,
    });
    const withSmi = await image(p, { name: 'sync-bash', address: testNodes.images.bash });
    const a = await p.commands.instances.create(
      { name: 'smi', imageId: withSmi, specId: gpuSpec, nodeId: node.id },
      owner,
    );
    const b = await p.commands.instances.create(
      { name: 'nosmi', imageId, specId: gpuSpec, nodeId: node.id },
      owner,
    );
    await observed(p, a.id, 'running');
    await observed(p, b.id, 'running');
    const sync = syncWith('report');
    await sync.runOnce();
    // The test image's stand-in nvidia-smi prints "1234, 24564".
    expect(sync.metrics.latest(a.id)).toMatchObject({ gpuMemoryUsedMb: 1234, gpuMemoryTotalMb: 24564 });
    expect(sync.metrics.latest(b.id)).toMatchObject({ gpuMemoryUsedMb: null, gpuMemoryTotalMb: 24 * 1024 });
  });

  it('an instance whose wake-up never reached the reconciler is made and started at the next sync', async () => {
    const p = platform();
    // The reconciler follows no events for a moment: the create below wakes nothing.
    await reconciler.unsubscribe();
    let id: string;
    try {
      ({ id } = await p.commands.instances.create(
        { name: 'never_woken', imageId, specId, nodeId: node.id },
        owner,
      ));
      await new Promise((r) => setTimeout(r, 500));
      expect(await containersOf(node.docker, id)).toEqual([]);
      expect((await p.commands.instances.get(id))!.observed).toBe('creating');
      // Under "report" too: this is work owed, not drift.
      await syncWith('report').runOnce();
      const made = await observed(p, id, 'running');
      expect(await containersOf(node.docker, id)).toEqual([
        expect.objectContaining({ Id: made.containerId }),
      ]);
    } finally {
      await reconciler.start();
    }
  });

  it('a node that stops answering is failed after two checks (its instances left alone) and comes back', async () => {
    const p = platform();
    const { id } = await p.commands.nodes.register(
      {
        name: 'gone-node',
        cpuCores: 4,
        memoryGb: 8,
        systemDiskGb: 10,
        dockerAddress: 'tcp://127.0.0.1:9',
        useTls: false,
      },
      system,
    );
    await p.commands.nodes.recordDockerStatus(id, 'connected', '', system);
    await p.settle();
    const health = new NodeHealth();
    await syncWith('report', health).runOnce();
    expect((await p.commands.nodes.get(id))!.dockerStatus).toBe('connected'); // one failure is not enough
    await syncWith('report', health).runOnce();
    expect((await p.commands.nodes.get(id))!).toMatchObject({
      dockerStatus: 'failed',
      dockerStatusReason: expect.stringMatching(/^connection refused/),
    });
    // Fixed by an admin: the next check brings it back.
    await p.commands.nodes.update(
      id,
      { dockerAddress: `tcp://${testNodes.nodes[1]!.host}:${testNodes.nodes[1]!.port}` },
      system,
    );
    await syncWith('report', health).runOnce();
    expect((await p.commands.nodes.get(id))!.dockerStatus).toBe('connected');
    await p.commands.nodes.delete(id, system); // that daemon serves other test files: see above
    await p.settle();
  });
});

describe('testing a node connection at once', () => {
  it('records failed with a plain reason for a wrong CA or for plain HTTP to a TLS port, and connected once fixed', async () => {
    const p = platform();
    const tls = testNodes.nodes[2]!;
    const { id } = await p.commands.nodes.register(
      {
        name: 'cert-check',
        cpuCores: 4,
        memoryGb: 8,
        systemDiskGb: 10,
        dockerAddress: `tcp://${tls.host}:${tls.port}`,
        useTls: true,
        caCert: tls.cert!, // not the CA that signed the server's certificate
        clientCert: tls.cert!,
        clientKey: tls.key!,
      },
      system,
    );
    await p.settle();
    const sync = syncWith('report');
    await sync.checkNow(id);
    expect((await p.commands.nodes.get(id))!).toMatchObject({
      dockerStatus: 'failed',
      dockerStatusReason: expect.stringMatching(/^bad certificate: /),
    });
    await p.commands.nodes.update(id, { useTls: false }, system);
    await sync.checkNow(id);
    expect((await p.commands.nodes.get(id))!.dockerStatusReason).toMatch(/HTTPS|TLS|reset/i);
    await p.commands.nodes.update(id, { useTls: true, caCert: tls.ca! }, system);
    await sync.checkNow(id);
    expect((await p.commands.nodes.get(id))!).toMatchObject({
      dockerStatus: 'connected',
      dockerStatusReason: '',
    });
  });
});

describe('resource figures as docker stats computes them', () => {
  it('CPU % uses online CPUs (cgroup v2 has no per-CPU list) and the deltas between two samples', () => {
    const before = { cpu_usage: { total_usage: 1_000 }, system_cpu_usage: 10_000, online_cpus: 4 };
    const now = { cpu_usage: { total_usage: 3_000 }, system_cpu_usage: 18_000, online_cpus: 4 };
    expect(cpuPercent(now, before)).toBe(100); // 2000/8000 × 4 CPUs
    const v1 = { cpu_usage: { total_usage: 3_000, percpu_usage: [1, 2] }, system_cpu_usage: 18_000 };
    expect(cpuPercent(v1, before)).toBe(50);
    expect(cpuPercent(now, undefined)).toBeNull();
  });

  it('memory in use leaves out the page cache (v1 total_inactive_file, v2 inactive_file)', () => {
    expect(memoryUsed({ usage: 1000, stats: { total_inactive_file: 300 } })).toBe(700);
    expect(memoryUsed({ usage: 1000, stats: { inactive_file: 400 } })).toBe(600);
    expect(memoryUsed({ usage: 1000, stats: { inactive_file: 2000 } })).toBe(1000);
  });
});
