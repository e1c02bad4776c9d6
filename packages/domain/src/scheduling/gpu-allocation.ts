import { type CardUse, cardUseOf } from './allocation-list.js';
import type { GpuAllocation, NodeCapacity, SpecDemand } from './types.js';

/** GPU model names match ignoring case, spaces, dashes and underscores: "RTX 4090" = "rtx4090". */
export function sameGpuModel(a: string | null, b: string | null): boolean {
  const norm = (s: string | null) => (s ?? '').toLowerCase().replace(/[\s_-]+/g, '');
  return norm(a) !== '' && norm(a) === norm(b);
}

/** HAMi reads a percentage of the card's compute: the slice's share of its VRAM, rounded up, 1–100. */
export function smPercentFor(sliceVramGb: number, cardVramGb: number): number {
  return Math.min(100, Math.max(1, Math.ceil((sliceVramGb / cardVramGb) * 100 - 1e-9)));
}

export type { CardUse } from './allocation-list.js';

/** Per card index: is it held whole, and how much of it is sliced. */
export function cardUse(node: Pick<NodeCapacity, 'gpuCount' | 'allocations'>): readonly CardUse[] {
  return cardUseOf(node.allocations, node.gpuCount);
}

/**
 * Picks the exact GPUs for a spec on a node, or says why it cannot. Whole cards: the lowest free
 * indices. Slices: the fullest cards that still fit the slice (best fit keeps other cards whole).
 */
export function allocateGpus(
  node: NodeCapacity,
  spec: SpecDemand,
): { gpus: GpuAllocation } | { reason: string } {
  if (spec.gpuCount === 0) return { gpus: { kind: 'none' } };
  if (!sameGpuModel(node.gpuModel, spec.gpuModel)) {
    return { reason: `GPU model ${node.gpuModel ?? 'none'} is not ${spec.gpuModel}` };
  }
  if (node.gpuCount < spec.gpuCount) {
    return { reason: `has ${node.gpuCount} GPU(s), the spec needs ${spec.gpuCount}` };
  }
  if (spec.vramGb > node.vramGbPerGpu) {
    return { reason: `${node.vramGbPerGpu} GB VRAM per GPU, the spec needs ${spec.vramGb} GB` };
  }
  if (spec.slice && spec.vramGb >= node.vramGbPerGpu) {
    return {
      reason: `a slice must be smaller than the card's ${node.vramGbPerGpu} GB; use a whole-card spec`,
    };
  }
  const cards = cardUse(node);
  if (!spec.slice) {
    const free = cards.flatMap((c, i) => (!c.whole && c.slicedVramGb === 0 ? [i] : []));
    if (free.length < spec.gpuCount) {
      return { reason: `${free.length} of ${node.gpuCount} GPU(s) free, the spec needs ${spec.gpuCount}` };
    }
    return { gpus: { kind: 'whole', indices: free.slice(0, spec.gpuCount) } };
  }
  if (!node.hamiCoreDir) return { reason: 'no HAMi-core directory, so no GPU slices' };
  const fits = cards
    .map((c, i) => ({ i, left: node.vramGbPerGpu - c.slicedVramGb, whole: c.whole }))
    .filter((c) => !c.whole && c.left >= spec.vramGb)
    .sort((a, b) => a.left - b.left || a.i - b.i);
  if (fits.length < spec.gpuCount) {
    return {
      reason: `${fits.length} GPU(s) with ${spec.vramGb} GB VRAM free for a slice, the spec needs ${spec.gpuCount}`,
    };
  }
  const indices = fits
    .slice(0, spec.gpuCount)
    .map((c) => c.i)
    .sort((a, b) => a - b);
  return {
    gpus: {
      kind: 'slice',
      indices,
      vramGb: spec.vramGb,
      smPercent: smPercentFor(spec.vramGb, node.vramGbPerGpu),
    },
  };
}
