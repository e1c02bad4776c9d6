import type pg from 'pg';
import type { Notifier } from './notifier.js';
import { comparePositions, type GlobalPosition, START } from './positions.js';

export interface SubscribeOptions<E> {
  /**
   * With a name, the checkpoint is loaded from `subscription_checkpoints` at start and saved after each
   * handled batch (at-least-once). Read models that keep their own checkpoint in the same transaction
   * as their rows leave it out and pass `from` instead (exactly-once).
   */
  name?: string;
  /** Where to start when there is no stored checkpoint. Default: the beginning. */
  from?: GlobalPosition;
  batchSize?: number;
  /** The safety net under LISTEN/NOTIFY: look for new events at least this often. */
  pollIntervalMs?: number;
  /** Called with each batch in global order; a throw retries the same batch after a backoff. */
  handle: (events: E[], next: GlobalPosition) => Promise<void> | void;
  onError?: (err: Error) => void;
}

interface SubscriptionDeps<E> {
  pool: pg.Pool;
  notifier: Notifier;
  readAll: (
    from: GlobalPosition,
    limit: number,
  ) => Promise<{ events: E[]; next: GlobalPosition; blocked: boolean }>;
  onError: (err: Error) => void;
}

/**
 * Follows the global order: catches up from its checkpoint, then is woken by appends. Survives a lost
 * database (errors are reported and retried with backoff) and never hands out an event twice or out of
 * order within one run.
 */
export class Subscription<E extends GlobalPosition> {
  #position: GlobalPosition;
  #stopped = false;
  #stop!: () => void;
  readonly #stopSignal = new Promise<void>((resolve) => {
    this.#stop = resolve;
  });
  #running: Promise<void> = Promise.resolve();
  #caughtUp!: () => void;
  /** Resolves the first time the subscription has read everything there was. */
  readonly caughtUp = new Promise<void>((resolve) => {
    this.#caughtUp = resolve;
  });
  readonly #progress = new Set<() => void>();

  constructor(
    private readonly deps: SubscriptionDeps<E>,
    private readonly options: SubscribeOptions<E>,
  ) {
    this.#position = options.from ?? START;
  }

  /** The position after the last handled event. */
  get position(): GlobalPosition {
    return this.#position;
  }

  start(): void {
    this.#running = this.#run();
  }

  /** Resolves once every event up to and including `position` has been handled. */
  async waitFor(position: GlobalPosition): Promise<void> {
    while (!this.#stopped && comparePositions(this.#position, position) < 0) {
      await new Promise<void>((resolve) => {
        this.#progress.add(resolve);
      });
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stop();
    for (const p of this.#progress) p();
    await this.#running;
  }

  async #run(): Promise<void> {
    const batchSize = this.options.batchSize ?? 500;
    const poll = this.options.pollIntervalMs ?? 1_000;
    const report = (err: unknown) => (this.options.onError ?? this.deps.onError)(err as Error);
    let failures = 0;
    let blockedDelay = 1;
    let loaded = this.options.name === undefined;
    while (!this.#stopped) {
      const generation = this.deps.notifier.generation;
      try {
        if (!loaded) {
          this.#position = (await this.#loadCheckpoint()) ?? this.#position;
          loaded = true;
        }
        const batch = await this.deps.readAll(this.#position, batchSize);
        if (batch.events.length > 0) {
          await this.options.handle(batch.events, batch.next);
          if (this.options.name !== undefined) await this.#saveCheckpoint(batch.next);
          this.#position = batch.next;
          for (const p of this.#progress) p();
          this.#progress.clear();
          failures = 0;
          // A full batch, or one held back by a running transaction, may have more behind it. Any
          // other had everything committed when it was read: what came since has woken the notifier
          // (so the wait below returns at once), and if nothing has, there is nothing to read yet.
          if (batch.events.length >= batchSize || batch.blocked) continue;
        }
        this.#caughtUp();
        failures = 0;
        // Events held back by a running transaction: look again soon, backing off to the poll interval.
        const delay = batch.blocked ? blockedDelay : poll;
        blockedDelay = batch.blocked ? Math.min(blockedDelay * 2, poll) : 1;
        await Promise.race([this.deps.notifier.wait(generation, delay), this.#stopSignal]);
      } catch (err) {
        if (this.#stopped) break;
        report(err);
        failures++;
        await Promise.race([sleep(Math.min(50 * 2 ** failures, 5_000)), this.#stopSignal]);
      }
    }
  }

  async #loadCheckpoint(): Promise<GlobalPosition | null> {
    const { rows } = await this.deps.pool.query<{ transaction_id: string; position: string }>(
      'SELECT transaction_id::text, position FROM subscription_checkpoints WHERE name = $1',
      [this.options.name],
    );
    const row = rows[0];
    return row ? { transactionId: BigInt(row.transaction_id), position: BigInt(row.position) } : null;
  }

  async #saveCheckpoint(p: GlobalPosition): Promise<void> {
    await this.deps.pool.query(
      `INSERT INTO subscription_checkpoints (name, transaction_id, position) VALUES ($1, $2::text::xid8, $3)
       ON CONFLICT (name) DO UPDATE SET transaction_id = excluded.transaction_id, position = excluded.position,
         updated_at = now()`,
      [this.options.name, p.transactionId.toString(), p.position.toString()],
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
