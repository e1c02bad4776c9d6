import type { IncomingMessage } from 'node:http';
import type Docker from 'dockerode';
import { z } from 'zod';

/** One message of Docker's `/events` stream, as far as the platform reads it. */
export const dockerEventSchema = z.object({
  Type: z.string(),
  Action: z.string(),
  Actor: z.object({ ID: z.string(), Attributes: z.record(z.string(), z.string()).default({}) }),
  /** Seconds since the epoch, on the daemon's clock (`timeNano` is past a double's precision). */
  time: z.number().int(),
});
export type DockerEvent = z.output<typeof dockerEventSchema>;

export interface EventStreamOptions {
  /** Docker's `since`: events from this second on (the daemon's clock), replayed from its buffer. */
  since: number | null;
  filters: Record<string, string[]>;
  signal: AbortSignal;
  /** The stream is open; `daemonTime` is the second the daemon answered at (its `Date`). */
  onOpen: (daemonTime: number) => void;
  onEvent: (event: DockerEvent) => void;
  /** A line that is not an event Docker would send. */
  onJunk?: (line: string) => void;
}

/**
 * Follows a node's `/events` until the stream ends, breaks or is aborted (then it resolves; a refused
 * or failed connection rejects). Docker sends one JSON object a line and nothing while nothing happens,
 * so TCP keepalives are what notice a peer that went away without closing the connection.
 */
export async function followEvents(docker: Docker, options: EventStreamOptions): Promise<void> {
  const { signal } = options;
  const res = (await docker.getEvents({
    ...(options.since === null ? {} : { since: options.since }),
    filters: JSON.stringify(options.filters),
    abortSignal: signal,
  } as Docker.GetEventsOptions)) as unknown as IncomingMessage;
  res.socket?.setKeepAlive(true, 10_000);
  const date = Date.parse(res.headers?.date ?? '');
  options.onOpen(Math.floor((Number.isNaN(date) ? Date.now() : date) / 1000));
  await new Promise<void>((resolve) => {
    let pending = '';
    const done = () => {
      signal.removeEventListener('abort', abort);
      resolve();
    };
    const abort = () => {
      res.destroy();
      done();
    };
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort);
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      pending += chunk;
      for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
        const line = pending.slice(0, end).trim();
        pending = pending.slice(end + 1);
        if (line === '') continue;
        const parsed = dockerEventSchema.safeParse(safeJson(line));
        if (parsed.success) options.onEvent(parsed.data);
        else options.onJunk?.(line);
      }
    });
    res.on('end', done);
    res.on('close', done);
    res.on('error', done);
  });
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}
