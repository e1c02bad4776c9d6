import { usedBy } from './allocation-list.js';
import { allocateGpus, cardUse } from './gpu-allocation.js';
import type { Candidate, NodeCapacity, Rejection, SpecDemand } from './types.js';

/** Free CPU, memory and disks on a node after what is allocated there. */
export function freeResources(
  node: Pick<NodeCapacity, 'cpuCores' | 'memoryGb' | 'systemDiskGb' | 'dataDiskGb' | 'allocations'>,
) {
  const u = usedBy(node.allocations);
  return {
    cpuCores: node.cpuCores - u.cpuCores,
    memoryGb: node.memoryGb - u.memoryGb,
    systemDiskGb: node.systemDiskGb - u.systemDiskGb,
    dataDiskGb: node.dataDiskGb - u.dataDiskGb,
  };
}

/**
 * The nodes that can host a spec now (listed, Docker connected, enough free capacity), each with the
 * exact allocation it would make, and every other node with the reasons it was passed over.
 */
export function matchNodes(
  nodes: readonly NodeCapacity[],
  spec: SpecDemand,
  instanceId: string,
): { candidates: Candidate[]; rejected: Rejection[] } {
  const candidates: Candidate[] = [];
  const rejected: Rejection[] = [];
  for (const node of nodes) {
    const reasons: string[] = [];
    if (!node.listed) reasons.push('not listed');
    if (node.dockerStatus !== 'connected') reasons.push(`Docker is ${node.dockerStatus}`);
    const free = freeResources(node);
    if (free.cpuCores < spec.cpuCores)
      reasons.push(`${free.cpuCores} CPU core(s) free, the spec needs ${spec.cpuCores}`);
    if (free.memoryGb < spec.memoryGb)
      reasons.push(`${free.memoryGb} GB memory free, the spec needs ${spec.memoryGb}`);
    if (free.systemDiskGb < spec.systemDiskGb) {
      reasons.push(`${free.systemDiskGb} GB system disk free, the spec needs ${spec.systemDiskGb}`);
    }
    if (free.dataDiskGb < spec.dataDiskGb)
      reasons.push(`${free.dataDiskGb} GB data disk free, the spec needs ${spec.dataDiskGb}`);
    const gpus = allocateGpus(node, spec);
    if ('reason' in gpus) reasons.push(gpus.reason);
    if (reasons.length > 0 || 'reason' in gpus) {
      rejected.push({ nodeId: node.nodeId, name: node.name, reasons });
      continue;
    }
    const freeGpus = cardUse(node).filter((c) => !c.whole && c.slicedVramGb === 0).length;
    candidates.push({
      nodeId: node.nodeId,
      name: node.name,
      region: node.region,
      gpuModel: node.gpuModel,
      freeGpus,
      leftAfter: {
        wholeGpus: freeGpus - (gpus.gpus.kind === 'whole' ? gpus.gpus.indices.length : 0),
        memoryGb: free.memoryGb - spec.memoryGb,
        cpuCores: free.cpuCores - spec.cpuCores,
      },
      allocation: {
        instanceId,
        cpuCores: spec.cpuCores,
        memoryGb: spec.memoryGb,
        systemDiskGb: spec.systemDiskGb,
        dataDiskGb: spec.dataDiskGb,
        gpus: gpus.gpus,
      },
    });
  }
  return { candidates, rejected };
}

/**
 * Best fit, the default policy: the candidate left with the fewest free whole GPUs, then the least free
 * memory, then the fewest free cores, then by name. Packing keeps whole cards (and whole nodes) free
 * for the specs that need them; a CPU-only instance lands on the node with the fewest free GPUs.
 */
export function chooseBestFit(candidates: readonly Candidate[]): Candidate | null {
  const key = (c: Candidate) => [c.leftAfter.wholeGpus, c.leftAfter.memoryGb, c.leftAfter.cpuCores];
  return (
    [...candidates].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
      return a.name.localeCompare(b.name);
    })[0] ?? null
  );
}
