import { allocateGpus } from './gpu-allocation.js';
import type { NodeCapacity, SpecDemand } from './types.js';

/**
 * Why a node could never host a spec, whatever runs on it now: it is unlisted, or its whole capacity
 * (not what is free) falls short — GPU model, count, VRAM per card, slicing, CPU, memory, disks. Empty
 * when it offers the spec; then a refusal is "full (or unreachable) now", not "never".
 */
export function whyNeverOffered(node: NodeCapacity, spec: SpecDemand): string[] {
  const reasons: string[] = [];
  if (!node.listed) reasons.push('not listed');
  if (node.cpuCores < spec.cpuCores)
    reasons.push(`has ${node.cpuCores} CPU core(s), the spec needs ${spec.cpuCores}`);
  if (node.memoryGb < spec.memoryGb)
    reasons.push(`has ${node.memoryGb} GB memory, the spec needs ${spec.memoryGb}`);
  if (node.systemDiskGb < spec.systemDiskGb)
    reasons.push(`has ${node.systemDiskGb} GB system disk, the spec needs ${spec.systemDiskGb}`);
  if (node.dataDiskGb < spec.dataDiskGb)
    reasons.push(`has ${node.dataDiskGb} GB data disk, the spec needs ${spec.dataDiskGb}`);
  // The GPU rules against an empty node: what is left is what no amount of waiting changes.
  const gpus = allocateGpus({ ...node, allocations: [] }, spec);
  if ('reason' in gpus) reasons.push(gpus.reason);
  return reasons;
}

/**
 * Whether a refusal to place a spec is for now or for good: `unsupported` when no node offers it at all
 * (waiting will not help), `busy` when the nodes that offer it are full or unreachable now.
 */
export type CapacityShortfall = 'unsupported' | 'busy';

export function capacityShortfall(nodes: readonly NodeCapacity[], spec: SpecDemand): CapacityShortfall {
  return nodes.some((n) => whyNeverOffered(n, spec).length === 0) ? 'busy' : 'unsupported';
}
