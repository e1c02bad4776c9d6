import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { type DockerEvent, followEvents } from '../docker/events.js';

const OPEN_TIMEOUT_MS = 10_000;

/** What the follower tells /metrics. */
export interface FollowerMetrics {
  received(action: string): void;
  reconnecting(): void;
}

export interface NodeEventsDeps {
  /** The node's client for long streams (no idle timeout) and its name; null: the node is gone. */
  open: () => Promise<{ docker: Docker; name: string } | null>;
  filters: Record<string, string[]>;
  onEvent: (event: DockerEvent) => void;
  /**
   * Open again after a break. What the daemon did meanwhile may be past what `since` can replay (a
   * restarted daemon starts a new buffer, and it holds only so many), so the owner looks afresh.
   */
  onResumed?: () => void;
  logger: Logger;
  metrics?: FollowerMetrics;
  /** Waits between attempts: doubling from `baseMs` up to `maxMs`, jittered. */
  backoff?: { baseMs: number; maxMs: number };
}

/**
 * One node's Docker event stream, followed until stopped: after a break (the daemon restarted, the
 * connection was lost) it connects again with backoff and asks for what happened from the last
 * event's second on, so a change made while it was away still arrives (Docker replays from its
 * buffer; the looks it causes are idempotent, so a replayed event is harmless). The first failure of
 * a series is a warning, the retries are debug, and getting back is info.
 */
export class NodeEventFollower {
  /** The client the stream is on (null before the first connection): a new one means new settings. */
  docker: Docker | null = null;
  connected = false;
  #since: number | null = null;
  #stopped = false;
  #current: AbortController | null = null;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;

  constructor(
    readonly nodeId: string,
    private readonly deps: NodeEventsDeps,
  ) {}

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Drops the stream and connects again at once (the node's connection settings changed). */
  reconnect(): void {
    this.#current?.abort();
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.reconnect();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { logger } = this.deps;
    let failures = 0;
    let name = this.nodeId;
    while (!this.#stopped) {
      const attempt = new AbortController();
      this.#current = attempt;
      let opened = false;
      let error: unknown;
      // The stream has no timeout of its own (it is quiet while nothing happens), so opening does.
      let timedOut = false;
      const opening = setTimeout(() => {
        timedOut = true;
        attempt.abort();
      }, OPEN_TIMEOUT_MS);
      try {
        const target = await this.deps.open();
        if (!target) return;
        name = target.name;
        this.docker = target.docker;
        await followEvents(target.docker, {
          since: this.#since,
          filters: this.deps.filters,
          signal: attempt.signal,
          onOpen: (daemonTime) => {
            clearTimeout(opening);
            opened = true;
            this.connected = true;
            if (failures > 0)
              logger.info({ node: name, attempts: failures }, 'following Docker events again');
            failures = 0;
            if (this.#since === null) this.#since = daemonTime;
            else this.deps.onResumed?.();
          },
          onEvent: (event) => {
            this.#since = event.time;
            this.deps.metrics?.received(event.Action);
            this.deps.onEvent(event);
          },
          onJunk: (line) => logger.debug({ node: name, line: line.slice(0, 200) }, 'not a Docker event'),
        });
      } catch (err) {
        error = err;
      } finally {
        clearTimeout(opening);
        this.connected = false;
      }
      if (this.#stopped) return;
      if (attempt.signal.aborted && !timedOut) continue; // asked to connect again: at once
      if (timedOut) error = new Error(`no answer within ${OPEN_TIMEOUT_MS / 1000} s`);
      failures++;
      const log = { err: error, node: name, attempt: failures };
      if (failures === 1)
        logger.warn(log, opened ? 'Docker event stream ended; reconnecting' : 'cannot follow Docker events');
      else logger.debug(log, 'Docker events: still reconnecting');
      this.deps.metrics?.reconnecting();
      await this.#sleep(this.#delay(failures));
    }
  }

  #delay(failures: number): number {
    const { baseMs, maxMs } = this.deps.backoff ?? { baseMs: 500, maxMs: 10_000 };
    const cap = Math.min(maxMs, baseMs * 2 ** (failures - 1));
    return cap / 2 + Math.random() * (cap / 2);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    }).finally(() => {
      this.#wake = null;
    });
  }
}
