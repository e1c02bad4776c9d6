import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { LogDecoder, type LogLine } from './log-decoder.js';

export type { LogLine } from './log-decoder.js';

/** How many lines one request may ask for. */
export const MAX_TAIL = 10_000;
/** A follow resumed from further back than this starts from the tail instead (no replay of days). */
const MAX_RESUME_MS = 3_600_000;

/** The last `tail` lines of a container's output, stdout and stderr told apart. */
export async function readLogs(
  docker: Docker,
  containerId: string,
  options: { tail: number; timestamps: boolean },
): Promise<LogLine[]> {
  const container = docker.getContainer(containerId);
  const { Config } = await container.inspect();
  // Docker answers a read that does not follow in one body: the tail is bounded in lines here, and
  // the lines handed out are bounded in length (a body of very long lines is the one cost left).
  const buffer = (await container.logs({
    stdout: true,
    stderr: true,
    follow: false,
    tail: Math.min(options.tail, MAX_TAIL),
    timestamps: options.timestamps,
  })) as unknown as Buffer;
  const decoder = new LogDecoder({ multiplexed: !Config.Tty, timestamps: options.timestamps });
  return [...decoder.push(buffer), ...decoder.end()];
}

/**
 * Follows a container's output: the last `tail` lines, then each new line as it is written, until the
 * container stops or `signal` aborts. Lines carry Docker's timestamps, so a client that reconnects
 * asks from the last one it saw (`since`, exclusive) and gets no line twice.
 */
export async function* followLogs(
  docker: Docker,
  containerId: string,
  options: { tail: number; since?: string | null; signal?: AbortSignal },
): AsyncGenerator<LogLine> {
  const container = docker.getContainer(containerId);
  const { Config } = await container.inspect();
  const resumeAt = options.since ? Date.parse(options.since) : Number.NaN;
  const since = Date.now() - resumeAt < MAX_RESUME_MS ? resumeAt / 1000 : undefined;
  const stream = (await container.logs({
    stdout: true,
    stderr: true,
    follow: true,
    timestamps: true,
    // Docker's `since` is in whole seconds here: lines up to the one already seen are skipped below.
    ...(since !== undefined && Number.isFinite(since)
      ? { since: Math.floor(since) }
      : { tail: Math.min(options.tail, MAX_TAIL) }),
  })) as unknown as Readable;
  const abort = () => stream.destroy();
  options.signal?.addEventListener('abort', abort, { once: true });
  const decoder = new LogDecoder({ multiplexed: !Config.Tty, timestamps: true });
  const after = options.since ? stampKey(options.since) : null;
  const fresh = (l: LogLine) => after === null || (l.time !== null && stampKey(l.time) > after);
  try {
    for await (const chunk of stream) {
      for (const line of decoder.push(chunk as Buffer)) if (fresh(line)) yield line;
    }
    for (const line of decoder.end()) if (fresh(line)) yield line;
  } catch (err) {
    if (!options.signal?.aborted) throw err;
  } finally {
    options.signal?.removeEventListener('abort', abort);
    stream.destroy();
  }
}

/**
 * A Docker stamp as a key that sorts in time order: Docker trims trailing zeros of the nanoseconds
 * (".12Z" and ".1234Z"), so the fraction is padded to nine digits before comparing.
 */
export function stampKey(stamp: string): string {
  const m = /^([^.Z]+)(?:\.(\d+))?Z$/.exec(stamp);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}` : stamp;
}
