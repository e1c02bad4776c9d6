/** One resource sample of a running instance, as `docker stats` would show it. */
export interface Sample {
  at: number;
  /** Of one CPU: 250 means two and a half cores busy. Null on an instance's first sample. */
  cpuPercent: number | null;
  memoryUsedBytes: number;
  memoryLimitBytes: number;
  memoryPercent: number;
  networkRxBytes: number;
  networkTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  pids: number;
  gpuMemoryUsedMb: number | null;
  gpuMemoryTotalMb: number | null;
}

/** The parts of Docker's stats answer used here (cgroup v1 and v2 differ in the memory and blkio keys). */
export interface DockerStats {
  cpu_stats: {
    cpu_usage: { total_usage: number; percpu_usage?: number[] };
    system_cpu_usage?: number;
    online_cpus?: number;
  };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  pids_stats?: { current?: number };
}

/** Memory in use without the page cache, as `docker stats` counts it (v1 total_inactive_file, v2 inactive_file). */
export function memoryUsed(memory: DockerStats['memory_stats']): number {
  const usage = memory.usage ?? 0;
  const stats = memory.stats ?? {};
  const v1 = stats.total_inactive_file;
  if (v1 !== undefined && v1 < usage) return usage - v1;
  const v2 = stats.inactive_file;
  if (v2 !== undefined && v2 < usage) return usage - v2;
  return usage;
}

/**
 * CPU % between two samples: the container's share of the host's CPU time times the number of online
 * CPUs (not the length of the per-CPU list, which cgroup v2 does not report), as `docker stats` does.
 */
export function cpuPercent(
  now: DockerStats['cpu_stats'],
  before: DockerStats['cpu_stats'] | undefined,
): number | null {
  if (!before || now.system_cpu_usage === undefined || before.system_cpu_usage === undefined) return null;
  const cpu = now.cpu_usage.total_usage - before.cpu_usage.total_usage;
  const system = now.system_cpu_usage - before.system_cpu_usage;
  // `||`: older engines report 0 online CPUs; docker stats then counts the per-CPU list.
  const cpus = now.online_cpus || now.cpu_usage.percpu_usage?.length || 1;
  return system > 0 && cpu >= 0 ? (cpu / system) * cpus * 100 : 0;
}

export function toSample(
  stats: DockerStats,
  before: DockerStats['cpu_stats'] | undefined,
  at: number,
): Sample {
  const used = memoryUsed(stats.memory_stats);
  const limit = stats.memory_stats.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(stats.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of stats.blkio_stats?.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') read += e.value;
    if (e.op.toLowerCase() === 'write') write += e.value;
  }
  return {
    at,
    cpuPercent: cpuPercent(stats.cpu_stats, before),
    memoryUsedBytes: used,
    memoryLimitBytes: limit,
    memoryPercent: limit > 0 ? (used / limit) * 100 : 0,
    networkRxBytes: rx,
    networkTxBytes: tx,
    blockReadBytes: read,
    blockWriteBytes: write,
    pids: stats.pids_stats?.current ?? 0,
    gpuMemoryUsedMb: null,
    gpuMemoryTotalMb: null,
  };
}

const HOUR = 3_600_000;

/** The last hour of samples per instance, in memory: figures, not facts, so never in the event log. */
export class MetricsStore {
  readonly #samples = new Map<string, Sample[]>();
  readonly #cpu = new Map<string, DockerStats['cpu_stats']>();

  constructor(
    private readonly keepMs = HOUR,
    private readonly maxPerInstance = 3_600,
  ) {}

  previousCpu(instanceId: string): DockerStats['cpu_stats'] | undefined {
    return this.#cpu.get(instanceId);
  }

  add(instanceId: string, sample: Sample, cpu: DockerStats['cpu_stats']): void {
    this.#cpu.set(instanceId, cpu);
    const list = this.#samples.get(instanceId) ?? [];
    list.push(sample);
    const cutoff = sample.at - this.keepMs;
    while (list.length > 0 && (list[0]!.at < cutoff || list.length > this.maxPerInstance)) list.shift();
    this.#samples.set(instanceId, list);
  }

  latest(instanceId: string): Sample | null {
    return this.#samples.get(instanceId)?.at(-1) ?? null;
  }

  series(instanceId: string, sinceMs = 0): Sample[] {
    return (this.#samples.get(instanceId) ?? []).filter((s) => s.at >= sinceMs);
  }

  /** Forgets instances that are gone. */
  keepOnly(instanceIds: Set<string>): void {
    for (const id of this.#samples.keys()) {
      if (!instanceIds.has(id)) {
        this.#samples.delete(id);
        this.#cpu.delete(id);
      }
    }
  }
}
