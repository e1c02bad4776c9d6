/** What a product spec asks of a node. `gpuCount` 0 is a CPU-only spec: it never touches GPUs. */
export interface SpecDemand {
  gpuModel: string | null;
  gpuCount: number;
  /** VRAM per GPU, in GB: for a slice, the slice's size on each card. */
  vramGb: number;
  /** A HAMi slice of each card rather than whole cards. */
  slice: boolean;
  cpuCores: number;
  memoryGb: number;
  systemDiskGb: number;
  dataDiskGb: number;
}

/** Which GPUs an instance holds. */
export type GpuAllocation =
  | { kind: 'none' }
  | { kind: 'whole'; indices: number[] }
  | { kind: 'slice'; indices: number[]; vramGb: number; smPercent: number };

export interface Allocation {
  instanceId: string;
  cpuCores: number;
  memoryGb: number;
  systemDiskGb: number;
  dataDiskGb: number;
  gpus: GpuAllocation;
}

/** A node as the scheduler sees it: what it offers and what is already allocated on it. */
export interface NodeCapacity {
  nodeId: string;
  name: string;
  region: string;
  listed: boolean;
  dockerStatus: 'connected' | 'failed' | 'unknown';
  cpuCores: number;
  memoryGb: number;
  systemDiskGb: number;
  dataDiskGb: number;
  gpuModel: string | null;
  gpuCount: number;
  vramGbPerGpu: number;
  /** Where HAMi-core lives on the node; only such nodes can host slices. */
  hamiCoreDir: string | null;
  allocations: readonly Allocation[];
}

export interface Candidate {
  nodeId: string;
  name: string;
  region: string;
  gpuModel: string | null;
  /** Whole cards still free before this allocation. */
  freeGpus: number;
  /** What the node would have left after this allocation: what best fit compares. */
  leftAfter: { wholeGpus: number; memoryGb: number; cpuCores: number };
  allocation: Allocation;
}

export interface Rejection {
  nodeId: string;
  name: string;
  reasons: string[];
}
