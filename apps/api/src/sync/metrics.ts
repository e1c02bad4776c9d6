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
  /** From the last sync's disk-usage answer: /data, and the writable layer (null: not known). */
  dataDiskUsedBytes: number | null;
  systemDiskUsedBytes: number | null;
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
    memoryPercent: memoryPercent(used, limit),
    networkRxBytes: rx,
    networkTxBytes: tx,
    blockReadBytes: read,
    blockWriteBytes: write,
    pids: stats.pids_stats?.current ?? 0,
    gpuMemoryUsedMb: null,
    gpuMemoryTotalMb: null,
    dataDiskUsedBytes: null,
    systemDiskUsedBytes: null,
  };
}

/** Memory in use as a share of the limit, in percent (0 with no limit known). */
function memoryPercent(used: number, limit: number): number {
  return limit > 0 ? (used / limit) * 100 : 0;
}

const HOUR = 3_600_000;

/**
 * The figures of a sample after `at`, in this order in the store (null kept as NaN). The memory
 * percentage is not kept: it is worked out again from the two it comes from (4 bytes a sample less,
 * 6 MB for 10,000 instances' hour).
 */
const FIELDS = [
  'cpuPercent',
  'memoryUsedBytes',
  'memoryLimitBytes',
  'networkRxBytes',
  'networkTxBytes',
  'blockReadBytes',
  'blockWriteBytes',
  'pids',
  'gpuMemoryUsedMb',
  'gpuMemoryTotalMb',
  'dataDiskUsedBytes',
  'systemDiskUsedBytes',
] as const satisfies readonly Exclude<keyof Sample, 'memoryPercent' | 'at'>[];
const NULLABLE = new Set<keyof Sample>([
  'cpuPercent',
  'gpuMemoryUsedMb',
  'gpuMemoryTotalMb',
  'dataDiskUsedBytes',
  'systemDiskUsedBytes',
]);

/**
 * One instance's samples in a ring: times as milliseconds after the ring's base time (uint32), figures
 * as float32 (7 significant digits, plenty for a chart), 52 bytes a sample and 130 slots (6.8 KB) an
 * instance — 10,000 instances' hour in ~68 MB, where plain objects took three times that.
 */
class SampleRing {
  readonly #at: Uint32Array;
  /** The time the offsets in #at count from: moved when one would no longer fit (after 24 days). */
  #base = Number.NaN;
  readonly values: Float32Array;
  start = 0;
  length = 0;

  constructor(readonly capacity: number) {
    this.#at = new Uint32Array(capacity);
    this.values = new Float32Array(capacity * FIELDS.length);
  }

  at(slot: number): number {
    return this.#base + this.#at[slot]!;
  }

  #setAt(slot: number, at: number): void {
    if (Number.isNaN(this.#base)) this.#base = at;
    const offset = at - this.#base;
    if (offset < 0 || offset > 2 ** 31) {
      // Offsets count again from 12 days before this sample (a clock set back counts too). Anything
      // kept from before that is far older than the hour kept, and is dropped right after this.
      const base = at - 2 ** 30;
      for (let n = 0; n < this.length; n++) {
        const s = (this.start + n) % this.capacity;
        this.#at[s] = Math.min(Math.max(0, this.at(s) - base), 2 ** 32 - 1);
      }
      this.#base = base;
    }
    this.#at[slot] = at - this.#base;
  }

  push(sample: Sample): void {
    const slot = (this.start + this.length) % this.capacity;
    if (this.length < this.capacity) this.length++;
    else this.start = (this.start + 1) % this.capacity;
    this.#write(slot, sample);
  }

  /** Replaces the newest sample (a live one taken soon after it). */
  replaceLast(sample: Sample): void {
    this.#write((this.start + this.length - 1) % this.capacity, sample);
  }

  #write(slot: number, sample: Sample): void {
    this.#setAt(slot, sample.at);
    FIELDS.forEach((f, i) => {
      this.values[slot * FIELDS.length + i] = sample[f] ?? Number.NaN;
    });
  }

  get(n: number): Sample {
    const slot = (this.start + n) % this.capacity;
    const sample = { at: this.at(slot) } as Record<string, number | null>;
    FIELDS.forEach((f, i) => {
      const v = this.values[slot * FIELDS.length + i]!;
      sample[f] = Number.isNaN(v) && NULLABLE.has(f) ? null : v;
    });
    sample.memoryPercent = memoryPercent(sample.memoryUsedBytes!, sample.memoryLimitBytes!);
    return sample as unknown as Sample;
  }

  dropOlderThan(cutoff: number): void {
    while (this.length > 0 && this.at(this.start) < cutoff) {
      this.start = (this.start + 1) % this.capacity;
      this.length--;
    }
  }
}

/** The last hour of samples per instance, in memory: figures, not facts, so never in the event log. */
export class MetricsStore {
  readonly #samples = new Map<string, SampleRing>();
  readonly #cpu = new Map<string, DockerStats['cpu_stats']>();
  /** While an instance's newest slot holds live samples: when the first of them was taken (see add). */
  readonly #liveSince = new Map<string, number>();

  constructor(
    private readonly keepMs = HOUR,
    /** 130 samples: an hour at the 30-second sync (120), with room for a few live ones kept between. */
    private readonly maxPerInstance = 130,
    /** Live samples (every 5 s while someone watches) are kept at most this often; the rest replace. */
    private readonly liveEveryMs = 25_000,
  ) {}

  previousCpu(instanceId: string): DockerStats['cpu_stats'] | undefined {
    return this.#cpu.get(instanceId);
  }

  add(
    instanceId: string,
    sample: Sample,
    cpu: DockerStats['cpu_stats'],
    options: { live?: boolean } = {},
  ): void {
    this.#cpu.set(instanceId, cpu);
    let ring = this.#samples.get(instanceId);
    if (!ring) {
      ring = new SampleRing(this.maxPerInstance);
      this.#samples.set(instanceId, ring);
    }
    const since = this.#liveSince.get(instanceId);
    if (options.live && since !== undefined && sample.at - since < this.liveEveryMs) {
      ring.replaceLast(sample);
    } else {
      ring.push(sample);
      if (options.live) this.#liveSince.set(instanceId, sample.at);
      else this.#liveSince.delete(instanceId);
    }
    ring.dropOlderThan(sample.at - this.keepMs);
  }

  latest(instanceId: string): Sample | null {
    const ring = this.#samples.get(instanceId);
    return ring && ring.length > 0 ? ring.get(ring.length - 1) : null;
  }

  series(instanceId: string, sinceMs = 0): Sample[] {
    const ring = this.#samples.get(instanceId);
    const out: Sample[] = [];
    for (let n = 0; ring && n < ring.length; n++) {
      const sample = ring.get(n);
      if (sample.at >= sinceMs) out.push(sample);
    }
    return out;
  }

  /** Forgets instances that are gone. */
  keepOnly(instanceIds: Set<string>): void {
    for (const id of this.#samples.keys()) {
      if (!instanceIds.has(id)) {
        this.#samples.delete(id);
        this.#cpu.delete(id);
        this.#liveSince.delete(id);
      }
    }
  }
}
