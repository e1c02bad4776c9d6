import { TianqiError } from '@tianqi/domain';
import { getInstance, listNodes } from '@tianqi/projections';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectedNode, image, signUp, spec, system, usePlatform } from './platform-fixture.js';

const platform = usePlatform(40);

/** Fires creates all at once; returns the successes and the refusals. */
async function race(count: number, create: (i: number) => Promise<{ id: string; allocation: unknown }>) {
  const outcomes = await Promise.allSettled(Array.from({ length: count }, (_, i) => create(i)));
  const ok = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
  return { ok, refused };
}

/**
 * The creates are spread over four "servers" (command sides with their own caches and per-node locks,
 * as four API processes would have): within one, creates for a node queue; between them, only the
 * node stream's expected version keeps two creates from taking the same card.
 */
describe('GPU allocation under concurrent creates (real PostgreSQL)', () => {
  let alice: Awaited<ReturnType<typeof signUp>>;
  let imageId: string;
  beforeAll(async () => {
    const p = platform();
    alice = await signUp(p, 'alice');
    imageId = await image(p, { name: 'CUDA', address: 'nvidia/cuda:12.4', supportsSlicing: true });
  });

  it('40 creates at a node with 8 whole GPUs: exactly 8 succeed, no index twice, 32 get "no capacity"', async () => {
    const p = platform();
    const nodeId = await connectedNode(p, { name: 'eight-cards', gpuCount: 8 });
    const specId = await spec(p, {
      name: '4090 ×1',
      gpuModel: 'rtx4090',
      gpuCount: 1,
      vramGb: 24,
      cpuCores: 2,
      memoryGb: 8,
      systemDiskGb: 20,
      pricePerHour: 1.5,
    });
    const servers = [p.commands, p.otherServer(), p.otherServer(), p.otherServer()];
    const { ok, refused } = await race(40, (i) =>
      servers[i % 4]!.instances.create({ name: `job-${i}`, imageId, specId, nodeId }, alice),
    );
    expect(ok).toHaveLength(8);
    const indices = ok.flatMap((r) => (r.allocation as { gpus: { indices: number[] } }).gpus.indices);
    expect(indices.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(refused).toHaveLength(32);
    for (const err of refused) {
      expect(err).toBeInstanceOf(TianqiError);
      expect((err as TianqiError).code).toBe('no_capacity');
      expect(err.message).toMatch(
        /node eight-cards cannot host this spec: 0 of 8 GPU\(s\) free, the spec needs 1/,
      );
    }
    // The node's stream holds exactly the 8 allocations, and the read model agrees card by card.
    const node = await p.commands.nodes.get(nodeId);
    expect(node!.allocations).toHaveLength(8);
    await p.settle();
    const row = (await listNodes(p.pool)).find((n) => n.nodeId === nodeId)!;
    expect(row.gpusFree).toBe(0);
    const map = row.gpuMap as { index: number; wholeBy: string | null }[];
    expect(new Set(map.map((c) => c.wholeBy))).toEqual(new Set(ok.map((r) => r.id)));
  });

  it('the same without naming a node: the scheduler places all 8 and refuses the rest', async () => {
    const p = platform();
    await connectedNode(p, { name: 'h100-box', gpuModel: 'H100', gpuCount: 8, vramGbPerGpu: 80 });
    const specId = await spec(p, {
      name: 'H100 ×1',
      gpuModel: 'h100',
      gpuCount: 1,
      vramGb: 80,
      cpuCores: 2,
      memoryGb: 8,
      systemDiskGb: 20,
      pricePerHour: 9,
    });
    await p.settle(); // the scheduler lists nodes from the read model
    const { ok, refused } = await race(40, (i) =>
      p.commands.instances.create({ name: `h-${i}`, imageId, specId }, alice),
    );
    expect(ok).toHaveLength(8);
    expect(refused.every((e) => (e as TianqiError).code === 'no_capacity')).toBe(true);
    expect(refused[0]!.message).toMatch(
      /every node that offers spec H100 ×1 is full or unreachable now \(.*h100-box: 0 of 8 GPU\(s\) free/,
    );
  });

  it('40 creates of 4 GB slices of one 24 GB card: exactly 6 fit, by VRAM, each 17% SM', async () => {
    const p = platform();
    const nodeId = await connectedNode(p, { name: 'one-card', gpuCount: 1, hamiCoreDir: '/opt/hami-core' });
    const specId = await spec(p, {
      name: '4090 4G slice',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 4,
      slice: true,
      cpuCores: 1,
      memoryGb: 4,
      systemDiskGb: 10,
      pricePerHour: 0.3,
    });
    const servers = [p.commands, p.otherServer(), p.otherServer(), p.otherServer()];
    const { ok, refused } = await race(40, (i) =>
      servers[i % 4]!.instances.create({ name: `slice-${i}`, imageId, specId, nodeId }, alice),
    );
    expect(ok).toHaveLength(6);
    for (const r of ok) {
      expect(r.allocation).toMatchObject({ gpus: { kind: 'slice', indices: [0], vramGb: 4, smPercent: 17 } });
    }
    expect(refused).toHaveLength(34);
    expect(refused.every((e) => (e as TianqiError).code === 'no_capacity')).toBe(true);
    expect(refused[0]!.message).toMatch(/0 GPU\(s\) with 4 GB VRAM free for a slice, the spec needs 1/);
    await p.settle();
    const row = (await listNodes(p.pool)).find((n) => n.nodeId === nodeId)!;
    expect(row.gpuMap).toEqual([
      expect.objectContaining({ index: 0, wholeBy: null, vramFreeGb: 0, slices: expect.arrayContaining([]) }),
    ]);
    expect((row.gpuMap as { slices: unknown[] }[])[0]!.slices).toHaveLength(6);
  });

  it('a deleted instance gives its card back once its container is gone; a stopped one keeps it', async () => {
    const p = platform();
    const nodeId = await connectedNode(p, { name: 'two-cards', gpuCount: 2 });
    const specId = await spec(p, {
      name: '4090 ×2',
      gpuModel: 'RTX 4090',
      gpuCount: 2,
      vramGb: 24,
      cpuCores: 2,
      memoryGb: 8,
      systemDiskGb: 20,
      pricePerHour: 3,
    });
    const first = await p.commands.instances.create({ name: 'first', imageId, specId, nodeId }, alice);
    await p.commands.instances.request(first.id, 'StopInstance', alice);
    await expect(
      p.commands.instances.create({ name: 'second', imageId, specId, nodeId }, alice),
    ).rejects.toMatchObject({
      code: 'no_capacity',
    });
    await p.commands.instances.request(first.id, 'DeleteInstance', alice);
    // Still held: the container may still be running until the platform has removed it.
    await expect(
      p.commands.instances.create({ name: 'second', imageId, specId, nodeId }, alice),
    ).rejects.toMatchObject({
      code: 'no_capacity',
    });
    await p.commands.instances.record(first.id, { type: 'RecordContainerRemoved' }, system);
    const second = await p.commands.instances.create({ name: 'second', imageId, specId, nodeId }, alice);
    expect(second.allocation).toMatchObject({ gpus: { kind: 'whole', indices: [0, 1] } });
    await p.settle();
    expect(await getInstance(p.pool, first.id)).toMatchObject({
      desired: 'deleted',
      observed: 'removed',
      allocationHeld: false,
    });
  });

  it('a failed creation gives its cards back at once', async () => {
    const p = platform();
    const nodeId = await connectedNode(p, { name: 'fail-node', gpuCount: 1 });
    const specId = await spec(p, {
      name: '4090 solo',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 24,
      cpuCores: 2,
      memoryGb: 8,
      systemDiskGb: 20,
      pricePerHour: 1,
    });
    const doomed = await p.commands.instances.create({ name: 'doomed', imageId, specId, nodeId }, alice);
    await p.commands.instances.record(
      doomed.id,
      { type: 'RecordInstanceFailed', phase: 'create', reason: 'pull access denied' },
      system,
    );
    const next = await p.commands.instances.create({ name: 'next', imageId, specId, nodeId }, alice);
    expect(next.allocation).toMatchObject({ gpus: { indices: [0] } });
  });

  it('a CPU-only spec never touches GPUs, and packs onto the tightest node without free cards (best fit)', async () => {
    const p = platform();
    // Nodes with free cards (h100-box is full; two-cards, one-card… are not) are left for GPU specs; of
    // the nodes with none free, the one with the least memory left wins.
    await connectedNode(p, {
      name: 'zz-cpu-only',
      gpuCount: 0,
      gpuModel: null,
      vramGbPerGpu: 0,
      memoryGb: 16,
    });
    const specId = await spec(p, {
      name: 'CPU 2c',
      gpuCount: 0,
      cpuCores: 2,
      memoryGb: 4,
      systemDiskGb: 10,
      pricePerHour: 0.1,
    });
    await p.settle();
    const created = await p.commands.instances.create({ name: 'cpu-job', imageId, specId }, alice);
    expect(created.allocation).toMatchObject({ gpus: { kind: 'none' } });
    const node = await p.commands.nodes.get(created.nodeId);
    expect(node!.name).toBe('zz-cpu-only');
  });
});
