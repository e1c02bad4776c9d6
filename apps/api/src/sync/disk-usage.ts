import type Docker from 'dockerode';
import { z } from 'zod';

/** The parts of Docker's disk-usage answer (`GET /system/df`) read here; -1 means "not computed". */
const dfSchema = z.object({
  Volumes: z
    .array(z.object({ Name: z.string(), UsageData: z.object({ Size: z.number() }).nullish() }))
    .nullish(),
  Containers: z
    .array(z.object({ Id: z.string(), SizeRw: z.number().nullish(), SizeRootFs: z.number().nullish() }))
    .nullish(),
});

/** One node's answer: bytes per volume name, and per container id its writable layer (system disk). */
export interface DiskUsage {
  volumes: Map<string, number>;
  containers: Map<string, number>;
  /** How long Docker took to answer. */
  ms: number;
}

export function readDiskUsage(answer: unknown, ms: number): DiskUsage {
  const df = dfSchema.parse(answer);
  const volumes = new Map<string, number>();
  for (const v of df.Volumes ?? []) {
    const size = v.UsageData?.Size ?? -1;
    if (size >= 0) volumes.set(v.Name, size);
  }
  const containers = new Map<string, number>();
  for (const c of df.Containers ?? []) {
    // Docker leaves SizeRw out when it is 0 (the sizes were computed: SizeRootFs is there).
    const rw = c.SizeRw ?? (typeof c.SizeRootFs === 'number' ? 0 : -1);
    if (rw >= 0) containers.set(c.Id, rw);
  }
  return { volumes, containers, ms };
}

/**
 * Asks each node for its disk usage, once per sync, waiting at most `timeoutMs`: a node that walks
 * big volumes slowly does not hold the sync (its figures are just missing that time). Docker runs one
 * disk-usage walk at a time and refuses a second (Docker 20.10: "a disk usage operation is already
 * running"), so a walk still going when the next sync comes is waited for again rather than asked
 * twice, one refused because someone else's walk runs (`docker system df` by hand, another
 * installation) is asked again shortly, and one that never answers is given up after `abandonMs`.
 */
export class DiskUsageReader {
  readonly #inFlight = new Map<string, Promise<DiskUsage | null>>();

  constructor(
    private readonly timeoutMs = 10_000,
    private readonly abandonMs = Math.max(60_000, timeoutMs * 6),
  ) {}

  async measure(nodeId: string, docker: Docker): Promise<DiskUsage | null> {
    let walk = this.#inFlight.get(nodeId);
    if (!walk) {
      walk = this.#walk(docker)
        .catch(() => null)
        .finally(() => this.#inFlight.delete(nodeId));
      this.#inFlight.set(nodeId, walk);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.timeoutMs);
    });
    try {
      return await Promise.race([walk, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #walk(docker: Docker): Promise<DiskUsage> {
    // dockerode takes an abort signal here; its types do not say so.
    const withSignal = docker as unknown as { df(o: { abortSignal: AbortSignal }): Promise<unknown> };
    const retryUntil = Date.now() + this.timeoutMs;
    for (;;) {
      const t0 = performance.now();
      try {
        const answer = await withSignal.df({ abortSignal: AbortSignal.timeout(this.abandonMs) });
        return readDiskUsage(answer, performance.now() - t0);
      } catch (err) {
        const busy = /already running/i.test((err as { message?: string }).message ?? '');
        if (!busy || Date.now() > retryUntil) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}
