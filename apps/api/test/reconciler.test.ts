import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { InstanceState } from '@tianqi/domain';
import { loadTestNodes, type TestNode } from '@tianqi/infra';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataVolume } from '../src/docker/labels.js';
import { containerRecipe } from '../src/reconciler/container-recipe.js';
import type { Reconciler } from '../src/reconciler/reconciler.js';
import {
  containersOf,
  execIn,
  installationOf,
  observed as observedIn,
  register,
  startReconciler,
  until,
} from './docker-fixture.js';
import { image, signUp, spec, usePlatform, watchStreamReads } from './platform-fixture.js';

const platform = usePlatform();
const testNodes = loadTestNodes();
let reconciler: Reconciler;
let owner: Awaited<ReturnType<typeof signUp>>;
let tlsNode: { id: string; docker: Docker; test: TestNode };
let plainNode: { id: string; docker: Docker; test: TestNode };
let hamiDir: string;
let shImage: string;
const stateOf = (id: string) => platform().commands.instances.get(id) as Promise<InstanceState>;
const observed = (id: string, want: InstanceState['observed']) => observedIn(platform(), id, want);
/** Passes over each instance, as the reconciler reports them. */
const passes = new Map<string, number>();
const startCounted = () =>
  startReconciler(platform(), { onPass: (_s, _o, id) => void passes.set(id, (passes.get(id) ?? 0) + 1) });
const cpu = { gpuCount: 0, cpuCores: 0.5, memoryGb: 0.5, systemDiskGb: 1, pricePerHour: 0.1 };

beforeAll(async () => {
  const p = platform();
  owner = await signUp(p, 'recowner');
  hamiDir = await mkdtemp(join(tmpdir(), 'tianqi-hami-'));
  await writeFile(join(hamiDir, 'libvgpu.so'), ''); // the nodes are local daemons: this is "on the node"
  tlsNode = await register(p, testNodes.nodes[0]!, { hamiCoreDir: hamiDir });
  plainNode = await register(p, testNodes.nodes[1]!);
  shImage = await image(p, { name: 'busybox', address: testNodes.images.sh, supportsSlicing: true });
  await p.settle();
  reconciler = await startCounted(); // the test daemons run without a bridge
});
afterAll(async () => {
  await reconciler?.stop();
  for (const node of [tlsNode, plainNode]) {
    if (!node) continue;
    for (const c of await node.docker.listContainers({
      all: true,
      filters: { label: ['tianqi.managed-by=tianqi'] },
    })) {
      await node.docker.getContainer(c.Id).remove({ force: true, v: true });
    }
  }
});

describe('reconciler against real Docker nodes', () => {
  it('a CPU-only instance reaches running over plain TCP: labelled, limited, /data on its volume, kept running', async () => {
    const p = platform();
    const specId = await spec(p, { name: 'rec-cpu', ...cpu });
    const { id } = await p.commands.instances.create(
      { name: 'cpu_one', imageId: shImage, specId, nodeId: plainNode.id },
      owner,
    );
    const state = await observed(id, 'running');
    const info = await plainNode.docker.getContainer(state.containerId!).inspect();
    expect(info.Name).toMatch(new RegExp(`^/cpu_one-${id}-\\d{10}$`));
    expect(info.Config.Labels).toMatchObject({ 'tianqi.instance': id, 'tianqi.managed-by': 'tianqi' });
    expect(info.HostConfig).toMatchObject({
      NanoCpus: 500_000_000,
      Memory: 512 * 1024 ** 2,
      ShmSize: 256 * 1024 ** 2,
    });
    expect(info.HostConfig.DeviceRequests ?? []).toEqual([]);
    expect(info.Mounts).toEqual([
      expect.objectContaining({ Type: 'volume', Name: dataVolume(id), Destination: '/data' }),
    ]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await plainNode.docker.getContainer(state.containerId!).inspect()).State.Running).toBe(true);
    // Made and started in one pass: what that pass recorded of its own work woke no other.
    expect(passes.get(id)).toBe(1);
  });

  it('a pass woken by the create acts on the instance as its feed brought it (its stream is not read), and records the container with its start in one append', async () => {
    const p = platform();
    const specId = await spec(p, { name: 'rec-feed', ...cpu });
    const { reads, restore } = watchStreamReads(p.store);
    try {
      const { id } = await p.commands.instances.create(
        { name: 'cpu_feed', imageId: shImage, specId, nodeId: plainNode.id },
        owner,
      );
      await until(`instance ${id} running in the read model`, async () => {
        const { rows } = await p.pool.query('SELECT observed FROM rm.instances WHERE instance_id = $1', [id]);
        return rows[0]?.observed === 'running';
      });
      expect(reads.filter((s) => s === `instance-${id}`)).toEqual([]);
      expect(passes.get(id)).toBe(1);
      // The container and its start in one append: one transaction, one wake-up of the followers.
      const { rows } = await p.pool.query(
        'SELECT type, transaction_id::text AS tx FROM events WHERE stream_id = $1 ORDER BY stream_version',
        [`instance-${id}`],
      );
      expect(rows.map((r) => r.type)).toEqual(['InstanceCreated', 'ContainerCreated', 'ContainerStarted']);
      expect(rows[1].tx).toBe(rows[2].tx);
      expect(rows[0].tx).not.toBe(rows[1].tx);
    } finally {
      restore();
    }
  });

  it('GPU instances over mutual TLS see exactly their own indices', async () => {
    const p = platform();
    const specId = await spec(p, {
      name: 'rec-g2',
      gpuModel: 'rtx 4090',
      gpuCount: 2,
      vramGb: 24,
      cpuCores: 1,
      memoryGb: 0.5,
      systemDiskGb: 1,
      pricePerHour: 5,
    });
    const a = await p.commands.instances.create(
      { name: 'gpu_a', imageId: shImage, specId, nodeId: tlsNode.id },
      owner,
    );
    const b = await p.commands.instances.create(
      { name: 'gpu_b', imageId: shImage, specId, nodeId: tlsNode.id },
      owner,
    );
    const sa = await observed(a.id, 'running');
    const sb = await observed(b.id, 'running');
    // What the container's own process (PID 1) was given by the GPU device request.
    const seen = async (s: InstanceState) =>
      (await execIn(tlsNode.docker, s.containerId!, ['sh', '-c', "tr '\\0' '\\n' < /proc/1/environ"]))
        .split('\n')
        .find((l) => l.startsWith('NVIDIA_VISIBLE_DEVICES='))
        ?.slice('NVIDIA_VISIBLE_DEVICES='.length);
    expect(await seen(sa)).toBe((a.allocation.gpus as { indices: number[] }).indices.join(','));
    expect(await seen(sb)).toBe((b.allocation.gpus as { indices: number[] }).indices.join(','));
    expect(await seen(sa)).not.toBe(await seen(sb));
  });

  it('a HAMi slice gets the read-only bind, the variables and /etc/ld.so.preload', async () => {
    const p = platform();
    const specId = await spec(p, {
      name: 'rec-s12',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 12,
      slice: true,
      cpuCores: 1,
      memoryGb: 0.5,
      systemDiskGb: 1,
      pricePerHour: 1,
    });
    const { id } = await p.commands.instances.create(
      { name: 'slice_one', imageId: shImage, specId, nodeId: tlsNode.id },
      owner,
    );
    const state = await observed(id, 'running');
    const info = await tlsNode.docker.getContainer(state.containerId!).inspect();
    expect(info.HostConfig.Binds).toEqual([`${hamiDir}:/libvgpu/build:ro`]);
    expect(info.Config.Env).toEqual(
      expect.arrayContaining([
        'LD_PRELOAD=/libvgpu/build/libvgpu.so',
        'CUDA_DEVICE_MEMORY_LIMIT=12g',
        'CUDA_DEVICE_SM_LIMIT=50',
      ]),
    );
    expect(await execIn(tlsNode.docker, state.containerId!, ['cat', '/etc/ld.so.preload'])).toBe(
      '/libvgpu/build/libvgpu.so',
    );
  });

  it('stop, start, restart and delete; after delete no container and no volume is left', async () => {
    const p = platform();
    const specId = await spec(p, { name: 'rec-life', ...cpu });
    const { id } = await p.commands.instances.create(
      { name: 'life', imageId: shImage, specId, nodeId: plainNode.id },
      owner,
    );
    const first = await observed(id, 'running');
    await p.commands.instances.request(id, 'StopInstance', owner);
    await observed(id, 'exited');
    expect((await plainNode.docker.getContainer(first.containerId!).inspect()).State.Running).toBe(false);
    await p.commands.instances.request(id, 'StartInstance', owner);
    await observed(id, 'running');
    const before = (await plainNode.docker.getContainer(first.containerId!).inspect()).State.StartedAt;
    await p.commands.instances.request(id, 'RestartInstance', owner);
    await until('the restart', async () => (await stateOf(id)).restartsDone === 1);
    expect((await plainNode.docker.getContainer(first.containerId!).inspect()).State.StartedAt).not.toBe(
      before,
    );
    await p.commands.instances.request(id, 'DeleteInstance', owner);
    await until('the volumes to go', async () => (await stateOf(id)).volumesRemoved);
    expect(await containersOf(plainNode.docker, id)).toEqual([]);
    const { Volumes } = await plainNode.docker.listVolumes();
    expect((Volumes ?? []).map((v) => v.Name)).not.toContain(dataVolume(id));
    expect((await stateOf(id)).allocationHeld).toBe(false);
  });

  it('an image that cannot be pulled fails the instance with the pull error and frees its resources', async () => {
    const p = platform();
    const missing = await image(p, { name: 'nowhere', address: '127.0.0.1:1/tianqi/none:1' });
    const specId = await spec(p, { name: 'rec-pull', ...cpu });
    const { id } = await p.commands.instances.create(
      { name: 'nopull', imageId: missing, specId, nodeId: plainNode.id },
      owner,
    );
    const state = await observed(id, 'failed');
    expect(state.failure).toMatchObject({
      phase: 'create',
      reason: expect.stringMatching(
        /^image 127\.0\.0\.1:1\/tianqi\/none:1 could not be pulled: the registry cannot be reached from the node \(Docker: .*connection refused/,
      ),
    });
    expect(state.allocationHeld).toBe(false);
    expect(await containersOf(plainNode.docker, id)).toEqual([]);
  });

  it('a pull refused by a registry says first whether the image is not there or access is denied', async () => {
    // A registry on loopback (Docker takes 127.0.0.0/8 as an insecure registry: plain HTTP).
    const registry = createServer((req, res) => {
      const json = (status: number, body: unknown) => {
        res.writeHead(status, {
          'content-type': 'application/json',
          'docker-distribution-api-version': 'registry/2.0',
        });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/v2/') return json(200, {});
      if (req.url?.startsWith('/v2/private/'))
        return json(403, {
          errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }],
        });
      return json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const at = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
    try {
      const p = platform();
      const specId = await spec(p, { name: 'rec-pull-2', ...cpu });
      const failureOf = async (name: string, address: string) => {
        const imageId = await image(p, { name, address });
        const { id } = await p.commands.instances.create(
          { name, imageId, specId, nodeId: plainNode.id },
          owner,
        );
        return (await observed(id, 'failed')).failure?.reason;
      };
      expect(await failureOf('gone', `${at}/tianqi/gone:1`)).toMatch(
        new RegExp(
          `^image ${at}/tianqi/gone:1 not found: the registry has no such image or tag \\(Docker: .*manifest unknown`,
        ),
      );
      expect(await failureOf('private', `${at}/private/model:1`)).toMatch(
        new RegExp(`^image ${at}/private/model:1 refused: the registry denies access .*\\(Docker: .*denied`),
      );
    } finally {
      await new Promise<void>((resolve) => registry.close(() => resolve()));
    }
  });

  /** An instance on the plain node, created while no reconciler runs (as before a crash). */
  const createdUnreconciled = async (name: string) => {
    const p = platform();
    await reconciler.stop();
    const specId = await spec(p, { name: `rec-${name}`, ...cpu });
    const { id } = await p.commands.instances.create(
      { name, imageId: shImage, specId, nodeId: plainNode.id },
      owner,
    );
    return { p, id };
  };

  it('a container made before a crash (not yet recorded) is found and adopted, never made twice', async () => {
    const { p, id } = await createdUnreconciled('crashy');
    // What the previous process did before it died: the container exists, nothing was recorded.
    const made = await plainNode.docker.createContainer(
      containerRecipe((await stateOf(id))!, {
        now: new Date(),
        hamiCoreDir: null,
        networkMode: 'none',
        installation: await installationOf(p),
      }),
    );
    await p.settle();
    reconciler = await startCounted();
    const state = await observed(id, 'running');
    expect(state.containerId).toBe(made.id);
    expect((await containersOf(plainNode.docker, id)).map((c) => c.Id)).toEqual([made.id]);
  });

  it('a data volume left without its folder by a daemon killed mid-create is made again', async () => {
    const { id } = await createdUnreconciled('lost-folder');
    // What such a daemon leaves: the volume on record, its folder never written to disk.
    await plainNode.docker.createVolume({ Name: dataVolume(id) });
    const folder = join(dirname(plainNode.test.socketPath), 'data', 'volumes', dataVolume(id), '_data');
    await rm(folder, { recursive: true });
    await expect(
      plainNode.docker.createContainer({
        Image: testNodes.images.sh,
        HostConfig: { Mounts: [{ Type: 'volume', Source: dataVolume(id), Target: '/data' }] },
      }),
    ).rejects.toThrow(/_data: no such file or directory/);
    reconciler = await startCounted();
    const state = await observed(id, 'running');
    expect((await containersOf(plainNode.docker, id)).map((c) => c.Id)).toEqual([state.containerId]);
    expect(
      await execIn(plainNode.docker, state.containerId!, ['sh', '-c', 'echo kept > /data/f && cat /data/f']),
    ).toBe('kept');
  });
});
