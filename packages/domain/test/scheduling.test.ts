import { describe, expect, it } from 'vitest';
import {
  type Allocation,
  allocateGpus,
  capacityShortfall,
  chooseBestFit,
  matchNodes,
  type NodeCapacity,
  type SpecDemand,
  sameGpuModel,
  smPercentFor,
  whyNeverOffered,
} from '../src/index.js';

const node = (over: Partial<NodeCapacity> = {}): NodeCapacity => ({
  nodeId: 'n1',
  name: 'gpu-a',
  region: 'cn-east',
  listed: true,
  dockerStatus: 'connected',
  cpuCores: 64,
  memoryGb: 512,
  systemDiskGb: 1000,
  dataDiskGb: 4000,
  gpuModel: 'RTX 4090',
  gpuCount: 8,
  vramGbPerGpu: 24,
  hamiCoreDir: null,
  allocations: [],
  ...over,
});

const spec = (over: Partial<SpecDemand> = {}): SpecDemand => ({
  gpuModel: 'RTX 4090',
  gpuCount: 1,
  vramGb: 24,
  slice: false,
  cpuCores: 8,
  memoryGb: 32,
  systemDiskGb: 50,
  dataDiskGb: 100,
  ...over,
});

const holding = (
  instanceId: string,
  gpus: Allocation['gpus'],
  over: Partial<Allocation> = {},
): Allocation => ({
  instanceId,
  cpuCores: 8,
  memoryGb: 32,
  systemDiskGb: 50,
  dataDiskGb: 100,
  gpus,
  ...over,
});

describe('GPU allocation', () => {
  it('gives whole cards by exact index: the lowest free ones', () => {
    const n = node({ allocations: [holding('i1', { kind: 'whole', indices: [0, 2] })] });
    expect(allocateGpus(n, spec({ gpuCount: 2 }))).toEqual({ gpus: { kind: 'whole', indices: [1, 3] } });
  });

  it('never gives a card that is held whole or partly sliced', () => {
    const n = node({
      gpuCount: 3,
      hamiCoreDir: '/opt/hami',
      allocations: [
        holding('i1', { kind: 'whole', indices: [0] }),
        holding('i2', { kind: 'slice', indices: [1], vramGb: 4, smPercent: 17 }),
      ],
    });
    expect(allocateGpus(n, spec({ gpuCount: 1 }))).toEqual({ gpus: { kind: 'whole', indices: [2] } });
    expect(allocateGpus(n, spec({ gpuCount: 2 }))).toEqual({
      reason: '1 of 3 GPU(s) free, the spec needs 2',
    });
  });

  it('never touches GPUs for a CPU-only spec, whatever the node has', () => {
    expect(
      allocateGpus(node({ gpuModel: null, gpuCount: 0 }), spec({ gpuCount: 0, gpuModel: null })),
    ).toEqual({
      gpus: { kind: 'none' },
    });
  });

  it('matches GPU models ignoring case and spacing', () => {
    expect(sameGpuModel('RTX 4090', 'rtx4090')).toBe(true);
    expect(sameGpuModel('NVIDIA A100-80G', 'nvidia a100 80g')).toBe(true);
    expect(sameGpuModel('A100', 'H100')).toBe(false);
    expect(sameGpuModel(null, '')).toBe(false);
    expect(allocateGpus(node(), spec({ gpuModel: 'A100' }))).toEqual({
      reason: 'GPU model RTX 4090 is not A100',
    });
  });

  it('slices a card by VRAM only on nodes with HAMi-core, filling the fullest card that fits', () => {
    const plain = node({ gpuCount: 2 });
    expect(allocateGpus(plain, spec({ slice: true, vramGb: 8 }))).toEqual({
      reason: 'no HAMi-core directory, so no GPU slices',
    });
    const hami = node({
      gpuCount: 2,
      hamiCoreDir: '/opt/hami',
      allocations: [holding('i1', { kind: 'slice', indices: [1], vramGb: 12, smPercent: 50 })],
    });
    expect(allocateGpus(hami, spec({ slice: true, vramGb: 8 }))).toEqual({
      gpus: { kind: 'slice', indices: [1], vramGb: 8, smPercent: 34 },
    });
    const full = node({
      gpuCount: 1,
      hamiCoreDir: '/opt/hami',
      allocations: [holding('i1', { kind: 'slice', indices: [0], vramGb: 20, smPercent: 84 })],
    });
    expect(allocateGpus(full, spec({ slice: true, vramGb: 8 }))).toEqual({
      reason: '0 GPU(s) with 8 GB VRAM free for a slice, the spec needs 1',
    });
    expect(allocateGpus(node({ hamiCoreDir: '/opt/hami' }), spec({ slice: true, vramGb: 24 }))).toEqual({
      reason: "a slice must be smaller than the card's 24 GB; use a whole-card spec",
    });
  });

  it('computes the SM share as slice VRAM / card VRAM in percent, rounded up, 1 to 100', () => {
    expect(smPercentFor(8, 24)).toBe(34);
    expect(smPercentFor(12, 24)).toBe(50);
    expect(smPercentFor(0.1, 80)).toBe(1);
    expect(smPercentFor(24, 24)).toBe(100);
  });
});

describe('matching nodes to a spec', () => {
  it('lists candidates and says why every other node was passed over', () => {
    const nodes = [
      node({ nodeId: 'ok', name: 'ok' }),
      node({ nodeId: 'unlisted', name: 'unlisted', listed: false }),
      node({ nodeId: 'down', name: 'down', dockerStatus: 'failed' }),
      node({ nodeId: 'small', name: 'small', cpuCores: 4, memoryGb: 16 }),
      node({ nodeId: 'other', name: 'other', gpuModel: 'A100' }),
    ];
    const { candidates, rejected } = matchNodes(nodes, spec(), 'inst-1');
    expect(candidates.map((c) => c.nodeId)).toEqual(['ok']);
    expect(candidates[0]!.allocation).toEqual(holding('inst-1', { kind: 'whole', indices: [0] }));
    expect(candidates[0]!.leftAfter).toEqual({ wholeGpus: 7, memoryGb: 480, cpuCores: 56 });
    expect(Object.fromEntries(rejected.map((r) => [r.nodeId, r.reasons]))).toEqual({
      unlisted: ['not listed'],
      down: ['Docker is failed'],
      small: ['4 CPU core(s) free, the spec needs 8', '16 GB memory free, the spec needs 32'],
      other: ['GPU model A100 is not RTX 4090'],
    });
  });

  it('counts what is already allocated against CPU, memory and disks', () => {
    const n = node({ cpuCores: 16, allocations: [holding('i1', { kind: 'none' }, { cpuCores: 12 })] });
    expect(matchNodes([n], spec(), 'i2').rejected[0]!.reasons).toEqual([
      '4 CPU core(s) free, the spec needs 8',
    ]);
  });

  it('lets any node host a CPU-only spec on CPU, memory and disk alone', () => {
    const { candidates } = matchNodes(
      [node({ nodeId: 'cpu', gpuModel: null, gpuCount: 0 }), node({ nodeId: 'gpu' })],
      spec({ gpuCount: 0, gpuModel: null, vramGb: 0 }),
      'i1',
    );
    expect(candidates.map((c) => c.nodeId).sort()).toEqual(['cpu', 'gpu']);
  });

  it('chooses by best fit: the node left with the fewest free cards keeps whole nodes free', () => {
    const nodes = [
      node({ nodeId: 'empty', name: 'empty' }),
      node({
        nodeId: 'busy',
        name: 'busy',
        allocations: [holding('i1', { kind: 'whole', indices: [0, 1, 2, 3, 4, 5] })],
      }),
    ];
    const { candidates } = matchNodes(nodes, spec(), 'i2');
    expect(chooseBestFit(candidates)?.nodeId).toBe('busy');
    const cpuOnly = matchNodes(nodes, spec({ gpuCount: 0, gpuModel: null }), 'i3');
    expect(chooseBestFit(cpuOnly.candidates)?.nodeId).toBe('busy');
    expect(chooseBestFit([])).toBeNull();
  });
});

describe('whether a spec is offered at all, or only full now', () => {
  it('a node whose whole capacity covers the spec offers it, however full it is now', () => {
    const full = node({ allocations: [holding('i1', { kind: 'whole', indices: [0, 1, 2, 3, 4, 5, 6, 7] })] });
    expect(whyNeverOffered(full, spec())).toEqual([]);
    expect(matchNodes([full], spec(), 'x').candidates).toEqual([]);
    expect(capacityShortfall([full], spec())).toBe('busy');
  });

  it('a node that is unreachable now still offers it: waiting may help', () => {
    expect(capacityShortfall([node({ dockerStatus: 'failed' })], spec())).toBe('busy');
  });

  it('no node offers a spec whose model, card count, VRAM, CPU, memory or disks exceed every node', () => {
    for (const [over, reason] of [
      [{ gpuModel: 'H100' }, /GPU model RTX 4090 is not H100/],
      [{ gpuCount: 9 }, /has 8 GPU\(s\), the spec needs 9/],
      [{ vramGb: 48 }, /24 GB VRAM per GPU, the spec needs 48 GB/],
      [{ cpuCores: 65 }, /has 64 CPU core\(s\), the spec needs 65/],
      [{ memoryGb: 1024 }, /has 512 GB memory/],
      [{ dataDiskGb: 5000 }, /has 4000 GB data disk/],
    ] as const) {
      expect(whyNeverOffered(node(), spec(over)).join(', ')).toMatch(reason);
      expect(capacityShortfall([node()], spec(over))).toBe('unsupported');
    }
  });

  it('a slice spec is not offered by nodes without a HAMi-core directory, nor by a node that is unlisted', () => {
    const slice = spec({ slice: true, vramGb: 8 });
    expect(whyNeverOffered(node(), slice)).toEqual(['no HAMi-core directory, so no GPU slices']);
    expect(capacityShortfall([node()], slice)).toBe('unsupported');
    expect(capacityShortfall([node({ hamiCoreDir: '/opt/hami' })], slice)).toBe('busy');
    expect(capacityShortfall([node({ hamiCoreDir: '/opt/hami', listed: false })], slice)).toBe('unsupported');
  });

  it('with no nodes at all, nothing is offered', () => {
    expect(capacityShortfall([], spec({ gpuCount: 0 }))).toBe('unsupported');
  });
});
