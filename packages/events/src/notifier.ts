import { randomUUID } from 'node:crypto';
import pg from 'pg';

export const CHANNEL = 'tianqi_events';
const NOTIFY_SPACING_MS = 2;
// A NOTIFY is a transaction with a commit of its own; that commit need not wait for its WAL flush,
// since it carries no data (the events were committed, durably, before it is sent) and a notification
// lost in a crash is what the subscriptions' polling is for. The appends keep synchronous commits.
const NOTIFY_SQL = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)";
/** How long a look that found no other listener holds (one look per this much time, while appending). */
const LISTENERS_LOOK_MS = 1_000;
/**
 * The other sessions of this database that may be listening: the ones whose last statement was our
 * LISTEN (a listener's connection runs nothing else), and, to be safe, any whose statement cannot be
 * seen (another role without pg_read_all_stats, activity tracking off, or a session that has run
 * nothing yet).
 */
const OTHER_LISTENERS_SQL = `SELECT count(*)::int AS n FROM pg_stat_activity
  WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> $1
    AND (query = $2 OR query IS NULL OR query IN ('', '<insufficient privilege>'))`;
const HELLO = 'hello:';
/**
 * Wake-ups in this process come at most this often: under a steady stream of appends the followers
 * wake together, once per few appends, and share one read of the log (see EventStore.#followerRead)
 * instead of one read per append. The first wake-up after a quiet spell comes at once.
 */
const WAKE_PACE_MS = 5;

/**
 * Wakes subscribers when events may have been appended: in this process at once, and in other
 * processes through LISTEN/NOTIFY. The NOTIFY is sent after the appending transaction commits and
 * coalesced (one in flight at a time): a NOTIFY inside the append would take PostgreSQL's global
 * notify lock at commit and serialise every writer, and lengthen each append's commit by the work of
 * signalling the listeners (measured: the lag to a subscriber in the same process grew). Polling in
 * the subscriptions covers what a lost notification or a crash between commit and NOTIFY would miss.
 *
 * A listening process that is the only one sends no NOTIFY at all: it would wake nobody, and under
 * load it is one query in eight. Alone is what a look at pg_stat_activity found, at most a second ago;
 * a process that starts listening says hello (a NOTIFY of its own), and every listener that hears it
 * notifies again from then on, and at once, for what it appended in the meantime.
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
  /** False only when this process listens and the last look found no other listener. */
  #othersListen = true;
  #lookedAt = Number.NEGATIVE_INFINITY;
  #looking = false;
  /** The listener's connection while it is listening (not while it connects or after it was lost). */
  #heard: pg.Client | null = null;
  /** When the waiters were last woken, and the wake-up held back by the pace, if one is. */
  #wokenAt = Number.NEGATIVE_INFINITY;
  #held: NodeJS.Timeout | null = null;

  constructor(pool: pg.Pool, connectionString: string | undefined, onError: (err: Error) => void) {
    this.#pool = pool;
    this.#connectionString = connectionString;
    this.#onError = onError;
  }

  /** Bumps on every wake-up; a subscriber compares it before and after a read to never miss one. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Resolves on the next wake-up after `generation`, or after `ms`. One has come already when the
   * generation has moved: then at once, or at the pace's next turn when waiters were woken just now.
   */
  wait(generation: number, ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (generation !== this.#generation) {
      const early = this.#wokenAt + WAKE_PACE_MS - performance.now();
      return early > 0 ? new Promise((resolve) => setTimeout(resolve, early)) : Promise.resolve();
    }
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
    if (this.#held) return;
    const early = this.#wokenAt + WAKE_PACE_MS - performance.now();
    if (early <= 0 || this.#closed) this.#release();
    else this.#held = setTimeout(() => this.#release(), early);
  }

  #release(): void {
    if (this.#held) clearTimeout(this.#held);
    this.#held = null;
    this.#wokenAt = performance.now();
    for (const w of [...this.#waiters]) w();
  }

  /** Called after an append committed (or failed: a rollback can also unblock readers). */
  appended(): void {
    this.wake();
    this.#lookForListeners();
    if (this.#othersListen || !this.#heard) this.#send();
  }

  /** Whether another process listens, looked at again when the last look is older than a second. */
  #lookForListeners(): void {
    const listener = this.#heard;
    if (!listener || this.#looking || this.#closed) return;
    if (performance.now() - this.#lookedAt < LISTENERS_LOOK_MS) return;
    this.#looking = true;
    const asked = performance.now();
    const ownPid = (listener as unknown as { processID?: number }).processID ?? 0;
    this.#pool
      .query<{ n: number }>(OTHER_LISTENERS_SQL, [ownPid, `LISTEN ${CHANNEL}`])
      .then(({ rows }) => {
        // A hello heard, or the listener lost (hellos unheard), while the look was under way wins: it
        // is newer than what the look saw.
        if (this.#lookedAt >= asked || this.#heard !== listener) return;
        this.#othersListen = rows[0]!.n > 0;
        this.#lookedAt = performance.now();
      })
      .catch((err: Error) => {
        this.#othersListen = true;
        this.#onError(err);
      })
      .finally(() => {
        this.#looking = false;
      });
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
      // Hellos sent while it reconnects go unheard: others are taken to listen until a look says not.
      this.#heard = null;
      this.#othersListen = true;
      this.#lookedAt = performance.now();
      client.removeAllListeners();
      client.on('error', () => {});
      client.end().catch(() => {});
      this.#schedule(0);
    };
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    client.on('notification', (msg) => {
      const payload = msg.payload ?? '';
      if (payload === this.#id || payload === `${HELLO}${this.#id}`) return;
      this.wake();
      if (payload.startsWith(HELLO)) {
        // A new listener: it hears from us from now on, and now, for what we appended meanwhile.
        this.#othersListen = true;
        this.#lookedAt = performance.now();
        this.#send();
      }
    });
    try {
      this.#listener = client;
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      listening = true;
      this.#heard = client;
      // Through the pool: the listener's connection runs nothing but LISTEN (see OTHER_LISTENERS_SQL).
      this.#pool
        .query(NOTIFY_SQL, [CHANNEL, `${HELLO}${this.#id}`])
        .catch((err: Error) => this.#onError(err));
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
    this.#generation++;
    this.#release();
    const client = this.#listener;
    this.#listener = null;
    this.#heard = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
