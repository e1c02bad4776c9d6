import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const CHANNEL = 'tianqi_events';
const NOTIFY_SPACING_MS = 2;
// A NOTIFY is a transaction with a commit of its own; that commit need not wait for its WAL flush,
// since it carries no data (the events were committed, durably, before it is sent) and a notification
// lost in a crash is what the subscriptions' polling is for. The appends keep synchronous commits.
const NOTIFY_SQL = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)";

/**
 * Wakes subscribers when events may have been appended: in this process at once, and in other
 * processes through LISTEN/NOTIFY. The NOTIFY is sent after the appending transaction commits and
 * coalesced (one in flight at a time): a NOTIFY inside the append would take PostgreSQL's global
 * notify lock at commit and serialise every writer, and lengthen each append's commit by the work of
 * signalling the listeners (measured: the lag to a subscriber in the same process grew). Polling in
 * the subscriptions covers what a lost notification or a crash between commit and NOTIFY would miss.
 */
export class Notifier {
  readonly #id = randomUUID();
  readonly #pool: pg.Pool;
  readonly #connectionString: string | undefined;
  readonly #onError: (err: Error) => void;
  readonly #waiters = new Set<() => void>();
  #generation = 0;
  #sending = false;
  #again = false;
  #listener: pg.Client | null = null;
  #listening = false;
  #closed = false;
  #retry: NodeJS.Timeout | null = null;

  constructor(pool: pg.Pool, connectionString: string | undefined, onError: (err: Error) => void) {
    this.#pool = pool;
    this.#connectionString = connectionString;
    this.#onError = onError;
  }

  /** Bumps on every wake-up; a subscriber compares it before and after a read to never miss one. */
  get generation(): number {
    return this.#generation;
  }

  /** Resolves on the next wake-up after `generation`, or after `ms`. */
  wait(generation: number, ms: number): Promise<void> {
    if (generation !== this.#generation || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }

  wake(): void {
    this.#generation++;
    for (const w of [...this.#waiters]) w();
  }

  /** Called after an append committed (or failed: a rollback can also unblock readers). */
  appended(): void {
    this.wake();
    this.#send();
  }

  #send(): void {
    if (this.#closed) return;
    if (this.#sending) {
      this.#again = true;
      return;
    }
    this.#sending = true;
    this.#pool
      .query(NOTIFY_SQL, [CHANNEL, this.#id])
      .catch((err: Error) => this.#onError(err))
      .finally(() => this.#rest());
  }

  /**
   * Under a steady stream of appends, one NOTIFY per few milliseconds wakes other processes just as
   * well, and leaves the server's time to the appends.
   */
  #rest(): void {
    setTimeout(() => {
      this.#sending = false;
      if (this.#again) {
        this.#again = false;
        this.#send();
      }
    }, NOTIFY_SPACING_MS).unref();
  }

  /** Starts listening for other processes' appends; reconnects with backoff after a lost connection. */
  async listen(): Promise<void> {
    if (this.#listening || this.#closed) return;
    this.#listening = true;
    await this.#connect(0);
  }

  async #connect(attempt: number): Promise<void> {
    if (this.#closed) return;
    const client = this.#connectionString
      ? new pg.Client({ connectionString: this.#connectionString })
      : new pg.Client();
    // Once listening, a lost connection starts a new one; while connecting, the catch below does.
    let listening = false;
    const reconnect = (err?: Error) => {
      if (!listening || this.#listener !== client) return;
      if (err) this.#onError(err);
      this.#listener = null;
      client.removeAllListeners();
      client.on('error', () => {});
      client.end().catch(() => {});
      this.#schedule(0);
    };
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    client.on('notification', (msg) => {
      if (msg.payload !== this.#id) this.wake();
    });
    try {
      this.#listener = client;
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      listening = true;
      // Anything appended while we were not listening: let subscribers look.
      this.wake();
    } catch (err) {
      if (this.#listener === client) this.#listener = null;
      client.removeAllListeners();
      client.on('error', () => {});
      client.end().catch(() => {});
      this.#onError(err as Error);
      this.#schedule(attempt + 1);
    }
  }

  #schedule(attempt: number): void {
    if (this.#closed || this.#retry) return;
    const delay = Math.min(100 * 2 ** attempt, 5_000);
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#connect(attempt);
    }, delay);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.wake();
    const client = this.#listener;
    this.#listener = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
