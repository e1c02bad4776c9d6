import { loadTestNodes } from '@tianqi/infra';
import { instanceHistory, listNodes } from '@tianqi/projections';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClients } from '../src/docker/clients.js';
import { LABEL_MANAGED_BY } from '../src/docker/labels.js';
import { NodeHealth } from '../src/docker/node-health.js';
import type { Reconciler } from '../src/reconciler/reconciler.js';
import { SyncService } from '../src/sync/sync-service.js';
import { execIn, observed, register, startReconciler } from './docker-fixture.js';
import { image, signUp, spec, system, usePlatform } from './platform-fixture.js';

const platform = usePlatform();
const testNodes = loadTestNodes();
const GiB = 1024 ** 3;
let reconciler: Reconciler;
let owner: Awaited<ReturnType<typeof signUp>>;
let imageId: string;
/** 1 GB system disk, 1 GB data disk: the smallest sizes a spec takes. */
let specId: string;
const nodes: Awaited<ReturnType<typeof register>>[] = [];

function syncWith(diskPolicy: 'stop' | 'warn') {
  const p = platform();
  return new SyncService({
    pool: p.pool,
    commands: p.commands,
    clients: new NodeClients(),
    health: new NodeHealth(),
    policy: 'report',
    diskPolicy,
    logger: pino({ level: process.env.DEBUG_LOG ?? 'silent' }),
    converge: (ids) => reconciler.converge(ids),
  });
}

async function runningOn(nodeId: string, name: string) {
  const p = platform();
  const { id } = await p.commands.instances.create({ name, imageId, specId, nodeId }, owner);
  return observed(p, id, 'running');
}

async function nodeRow(nodeId: string) {
  await platform().settle();
  return (await listNodes(platform().pool)).find((n) => n.nodeId === nodeId)!;
}

async function history(instanceId: string) {
  await platform().settle();
  return (await instanceHistory(platform().pool, instanceId)).map((e) => `${e.type}: ${e.summary}`);
}

/** Writes `mb` MB of zeros into the container and says how it went (dd's complaint and exit code). */
const write = (node: (typeof nodes)[number], containerId: string, file: string, mb: number) =>
  execIn(node.docker, containerId, [
    'sh',
    '-c',
    `dd if=/dev/zero of=${file} bs=1M count=${mb} 2>&1 | grep -i -e error -e space -e quota; echo rc=$?; sync`,
  ]);

beforeAll(async () => {
  if (!testNodes.btrfs) {
    throw new Error('no node-btrfs among the test nodes: start them again with infra/test-nodes/start.sh');
  }
  const p = platform();
  owner = await signUp(p, 'diskowner');
  imageId = await image(p, { name: 'disk-busybox', address: testNodes.images.sh });
  specId = await spec(p, {
    name: 'disk-tiny',
    gpuCount: 0,
    cpuCores: 0.5,
    memoryGb: 0.5,
    systemDiskGb: 1,
    dataDiskGb: 1,
    pricePerHour: 0.1,
  });
  await p.settle();
  reconciler = await startReconciler(p);
});
afterAll(async () => {
  await reconciler?.stop();
  for (const { docker } of nodes) {
    for (const c of await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED_BY}=tianqi`] },
    })) {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    }
    await docker.pruneVolumes().catch(() => {});
  }
});

describe('the system disk limit (Docker’s size storage option)', () => {
  it('on the btrfs node: the sync finds it enforced, and a write past the spec’s 1 GB fails inside the container', async () => {
    const p = platform();
    const btrfs = await register(p, testNodes.btrfs!, { name: 'disk-btrfs', dataDiskGb: 100 });
    nodes.push(btrfs);
    await p.settle();
    await syncWith('stop').runOnce();
    expect(await nodeRow(btrfs.id)).toMatchObject({ systemDiskLimit: 'enforced', storageDriver: 'btrfs' });

    const inst = await runningOn(btrfs.id, 'fills_root');
    const info = await btrfs.docker.getContainer(inst.containerId!).inspect();
    expect(info.HostConfig.StorageOpt).toEqual({ size: '1G' });
    const out = await write(btrfs, inst.containerId!, '/root/big', 1200);
    expect(out).toMatch(/Disk quota exceeded|No space left/);
    expect(out).toMatch(/rc=0/); // grep found dd's complaint
  });

  it('on an overlay2 node over ext4: the sync finds it not supported (and why), and the container is made without it', async () => {
    const p = platform();
    const plain = await register(p, testNodes.nodes[1]!, { name: 'disk-overlay', dataDiskGb: 100 });
    nodes.push(plain);
    await p.settle();
    await syncWith('stop').runOnce();
    const row = await nodeRow(plain.id);
    expect(row).toMatchObject({ systemDiskLimit: 'unsupported', storageDriver: 'overlay2 on extfs' });
    expect(row.systemDiskLimitReason).toMatch(/only on btrfs, zfs, or overlay2 over xfs with 'pquota'/);

    const inst = await runningOn(plain.id, 'no_root_limit');
    const info = await plain.docker.getContainer(inst.containerId!).inspect();
    expect(info.HostConfig.StorageOpt ?? {}).toEqual({});
  });

  it('a node taken to limit whose Docker refuses the option: the container is made without it, and the node records Docker’s words', async () => {
    const p = platform();
    const node = await register(p, testNodes.nodes[0]!, { name: 'disk-believed', dataDiskGb: 100 });
    nodes.push(node);
    // What a probe of overlay2 on xfs would say: possible, to be confirmed by the first create.
    await p.commands.nodes.act(
      node.id,
      {
        type: 'RecordSystemDiskLimit',
        status: 'unconfirmed',
        storageDriver: 'overlay2 on extfs',
        source: 'probe',
      },
      system,
    );
    const inst = await runningOn(node.id, 'refused_root_limit');
    const info = await node.docker.getContainer(inst.containerId!).inspect();
    expect(info.HostConfig.StorageOpt ?? {}).toEqual({});
    expect(await nodeRow(node.id)).toMatchObject({
      systemDiskLimit: 'unsupported',
      systemDiskLimitReason: expect.stringMatching(/--storage-opt is supported only for overlay over xfs/),
    });
    expect((await history(inst.instanceId)).some((h) => h.startsWith('InstanceFailed'))).toBe(false);
  });
});

describe('the data disk (/data against the spec)', () => {
  it('its usage is in the stats after a sync, from Docker’s disk-usage answer', async () => {
    const p = platform();
    const node = nodes.find((n) => n.test.name === testNodes.nodes[1]!.name)!;
    const inst = await runningOn(node.id, 'measured');
    await execIn(node.docker, inst.containerId!, [
      'sh',
      '-c',
      'head -c 3000000 /dev/zero > /data/three-mb; sync',
    ]);
    const sync = syncWith('stop');
    const report = await sync.runOnce();
    const sample = sync.metrics.latest(inst.instanceId);
    expect(sample?.dataDiskUsedBytes).toBe(3_000_000);
    expect(sample?.systemDiskUsedBytes).toBeGreaterThanOrEqual(0);
    const ms = report.nodes.map((n) => `${n.name} ${n.diskUsageMs?.toFixed(0)} ms`);
    console.log(`disk-usage answers: ${ms.join(', ')}; whole sync ${report.ms.toFixed(0)} ms`);
    expect(await p.commands.instances.get(inst.instanceId)).toMatchObject({ dataDiskOver: null });
  });

  it('over its size under "stop": warned at one sync, stopped at the next with the reason; a user’s start is then refused, an admin’s is not', async () => {
    const p = platform();
    const node = nodes.find((n) => n.test.name === testNodes.nodes[1]!.name)!;
    const inst = await runningOn(node.id, 'fills_data');
    expect(await write(node, inst.containerId!, '/data/big', 1100)).toMatch(/rc=1/); // no complaint: no limit on /data
    const sync = syncWith('stop');
    await sync.runOnce();
    expect(sync.metrics.latest(inst.instanceId)?.dataDiskUsedBytes).toBe(1100 * 1024 ** 2);
    expect((await p.commands.instances.get(inst.instanceId))!).toMatchObject({
      desired: 'running',
      dataDiskOver: { usedBytes: 1100 * 1024 ** 2, limitBytes: GiB },
    });
    await sync.runOnce();
    await observed(p, inst.instanceId, 'exited');
    const h = await history(inst.instanceId);
    expect(h).toContain(
      'DataDiskOverLimit: data disk over its size: 1.07 GB of 1 GB in /data; it will be stopped at the next sync if still over',
    );
    expect(h).toContain(
      'InstanceStopRequested: stopped by the platform: its data disk holds 1.07 GB, over the 1 GB of its spec',
    );
    await expect(
      p.commands.instances.request(inst.instanceId, 'StartInstance', owner, { refuseOverDataDisk: true }),
    ).rejects.toThrow(/cannot start: its \/data held 1\.07 GB at the last sync, over the 1 GB of its spec/);
    const admin = await signUp(p, 'diskadmin', 'admin');
    await p.commands.instances.request(inst.instanceId, 'StartInstance', admin);
    await observed(p, inst.instanceId, 'running');
  });

  it('over its size under "warn": warned once and left running; back under its size, the warning ends', async () => {
    const p = platform();
    const node = nodes.find((n) => n.test.name === testNodes.nodes[1]!.name)!;
    const inst = await runningOn(node.id, 'warned_only');
    await write(node, inst.containerId!, '/data/big', 1100);
    const sync = syncWith('warn');
    await sync.runOnce();
    await sync.runOnce();
    expect((await p.commands.instances.get(inst.instanceId))!.desired).toBe('running');
    await execIn(node.docker, inst.containerId!, ['rm', '/data/big']);
    await sync.runOnce();
    const h = (await history(inst.instanceId)).filter((e) => /DataDisk|StopRequested/.test(e));
    expect(h).toEqual([
      'DataDiskOverLimit: data disk over its size: 1.07 GB of 1 GB in /data; warning only (the platform does not stop it)',
      'DataDiskBackUnderLimit: data disk back under its size: 0 GB of 1 GB',
    ]);
  });
});
