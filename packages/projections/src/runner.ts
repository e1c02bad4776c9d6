import { TianqiError } from '@tianqi/domain';
import {
  comparePositions,
  type GlobalPosition,
  isDatabaseUnavailable,
  START,
  type Subscription,
} from '@tianqi/events';
import { inCheckpointedTransaction, loadCheckpoints } from './checkpoints.js';
import type { PlatformEvent, PlatformStore } from './platform-events.js';
import { LIVE_SCHEMA, type Projection } from './projection.js';
import { allProjections } from './read-models/index.js';
import { isAfter, type RebuildResult, rebuildProjections } from './rebuild.js';

export interface RunnerOptions {
  store: PlatformStore;
  projections?: readonly Projection[];
  batchSize?: number;
  onRebuild?: (result: RebuildResult) => void;
  onError?: (err: Error) => void;
  /** Tries of one batch that one read model fails before it is set aside (default 3). */
  triesBeforeSetAside?: number;
}

/** A read model set aside after failing the same batch again and again: the others go on. */
export interface FailedReadModel {
  name: string;
  error: string;
  /** Where it stopped: its checkpoint stays there until a restart tries it again. */
  at: GlobalPosition;
  since: Date;
}

/**
 * The read models a batch is applied to first, in a transaction of their own: most mutations answer
 * once the instances read model has their events, and need not wait for the others (audit, usage…).
 */
const FIRST = new Set(['instances']);

/**
 * Keeps the read models up to date: at start, builds any read model that is new or whose definition
 * changed; then follows the log, applying each batch in two transactions, each read model's rows
 * together with its checkpoint, so a crash can neither apply an event twice nor lose one: first to
 * the FIRST read models (waiters for those alone are answered then), then to all the others.
 * Commits do not wait for the disk: a crash that loses one loses its checkpoint with it, and the batch
 * is applied again from the log, which is durable.
 *
 * A failed batch is tried again (most failures pass: a lost connection, a deadlock). A read model that
 * fails the same batch `triesBeforeSetAside` times, other than by losing the database, is set aside, its checkpoint left where it was, so
 * one broken read model (a bug, an event it cannot take) does not stop all the others; `failed` lists
 * it, and a restart tries it again from its checkpoint.
 */
export class ProjectionRunner {
  readonly projections: readonly Projection[];
  #subscription: Subscription<PlatformEvent> | null = null;
  readonly #listeners = new Set<(events: readonly PlatformEvent[]) => void>();
  readonly #setAside = new Map<string, FailedReadModel>();
  /** Consecutive failures to get past `at` (the read model's checkpoint), by read model. */
  readonly #failing = new Map<string, { at: GlobalPosition; tries: number }>();
  /** The two stages of a batch (see FIRST), each in name order: the order checkpoints are locked in. */
  readonly #stages: readonly (readonly Projection[])[];
  /** Where the first stage has got to: ahead of `position` while the rest of a batch is applied. */
  #firstAt: GlobalPosition = START;
  readonly #firstWaiters = new Set<() => void>();
  /** Bumped after each committed stage: what was read from the read models may have changed. */
  #commits = 0;

  /** The read models set aside since this runner started. */
  get failed(): FailedReadModel[] {
    return [...this.#setAside.values()];
  }

  /**
   * Calls `listener` after each batch is committed to the read models, with the batch's events: live
   * views (a subscription, a browser) re-read what changed and find it there. Returns the unsubscribe.
   */
  onApplied(listener: (events: readonly PlatformEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  constructor(private readonly options: RunnerOptions) {
    this.projections = [...(options.projections ?? allProjections)].sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    this.#stages = [
      this.projections.filter((p) => FIRST.has(p.name)),
      this.projections.filter((p) => !FIRST.has(p.name)),
    ].filter((stage) => stage.length > 0);
  }

  async start(): Promise<void> {
    const { store } = this.options;
    const names = this.projections.map((p) => p.name);
    let checkpoints = await loadCheckpoints(store.pool, names);
    for (const p of this.projections) {
      const built = checkpoints.get(p.name)?.version ?? 0;
      // Never back to an older definition: an old server restarting beside a newer one must not
      // rebuild the newer one's read models under it.
      if (built > p.version) {
        throw new TianqiError(
          'internal',
          `read model ${p.name} was built by a newer Tianqi (definition ${built}, this one knows ${p.version}): upgrade this server`,
        );
      }
    }
    const stale = this.projections.filter((p) => (checkpoints.get(p.name)?.version ?? 0) < p.version);
    if (stale.length > 0) {
      // Not onRebuild?.(await …): an optional call skips evaluating its arguments.
      const rebuilt = await rebuildProjections(store, stale, { onlyStale: true });
      this.options.onRebuild?.(rebuilt);
      checkpoints = await loadCheckpoints(store.pool, names);
    }
    const from = [...checkpoints.values()]
      .map((c) => c.position)
      .reduce((min, p) => (comparePositions(p, min) < 0 ? p : min));
    this.#firstAt = from;
    this.#subscription = store.subscribe({
      from,
      batchSize: this.options.batchSize ?? 1_000,
      handle: (events, next) => this.#apply(events, next),
      onError: this.options.onError,
    });
    await this.#subscription.caughtUp;
  }

  async #apply(events: PlatformEvent[], next: GlobalPosition): Promise<void> {
    for (const [i, stage] of this.#stages.entries()) {
      await this.#applyStage(stage, events, next);
      this.#commits++;
      if (i === 0 && isAfter(next, this.#firstAt)) {
        this.#firstAt = next;
        for (const wake of this.#firstWaiters) wake();
        this.#firstWaiters.clear();
      }
    }
    this.#failing.clear();
    for (const listener of this.#listeners) {
      try {
        listener(events);
      } catch (err) {
        this.options.onError?.(err as Error);
      }
    }
  }

  /** One stage's read models and checkpoints in one transaction (see the class). */
  async #applyStage(stage: readonly Projection[], events: PlatformEvent[], next: GlobalPosition) {
    await inCheckpointedTransaction(
      this.options.store.pool,
      stage.map((p) => p.name),
      async (client, checkpoints) => {
        const advanced: Projection[] = [];
        for (const p of stage) {
          if (this.#setAside.has(p.name)) continue;
          const checkpoint = checkpoints.get(p.name);
          // Rebuilt meanwhile by another process with another definition: not ours to write.
          if (!checkpoint || checkpoint.version !== p.version) continue;
          const fresh = events.filter((e) => isAfter(e, checkpoint.position));
          try {
            if (fresh.length > 0) await p.apply({ client, schema: LIVE_SCHEMA }, fresh);
          } catch (err) {
            // A lost database is nobody's fault: the batch is tried again when it is back.
            if (isDatabaseUnavailable(err)) throw err;
            throw this.#failedOnce(p.name, checkpoint.position, err as Error);
          }
          if (isAfter(next, checkpoint.position)) advanced.push(p);
        }
        return { advanced, position: next };
      },
    );
  }

  /**
   * Counts a read model's failure to get past `stoppedAt` (its checkpoint: a retried batch may end
   * further on, as events keep coming, but starts there); sets it aside after enough.
   */
  #failedOnce(name: string, stoppedAt: GlobalPosition, err: Error): Error {
    const last = this.#failing.get(name);
    const tries = last && comparePositions(last.at, stoppedAt) === 0 ? last.tries + 1 : 1;
    this.#failing.set(name, { at: stoppedAt, tries });
    if (tries >= (this.options.triesBeforeSetAside ?? 3)) {
      this.#failing.delete(name);
      this.#setAside.set(name, { name, error: err.message, at: stoppedAt, since: new Date() });
      return new Error(`read model ${name} failed: ${err.message} (set aside after ${tries} tries)`, {
        cause: err,
      });
    }
    return new Error(`read model ${name} failed: ${err.message}`, { cause: err });
  }

  /** Where every read model has got to (the slowest one that is not set aside). */
  get position(): GlobalPosition {
    return this.#subscription?.position ?? START;
  }

  /** Where the read models applied first (see FIRST) have got to: the others follow within a stage. */
  get firstStagePosition(): GlobalPosition {
    return this.#firstAt;
  }

  /**
   * A stamp that changes whenever a read model may have changed (after each committed stage): an
   * answer read from them is current while it stays the same.
   */
  get stamp(): string {
    return `${this.#commits}`;
  }

  /**
   * Resolves once every read model includes the event at `position`: read-your-writes for callers.
   * `only`: once these read models do (those applied first, see FIRST, may answer sooner).
   */
  async waitFor(position: GlobalPosition, only?: readonly string[]): Promise<void> {
    const sub = this.#subscription;
    if (!sub) return;
    const first = this.#stages[0]!;
    if (!only?.every((name) => FIRST.has(name) && first.some((p) => p.name === name))) {
      return sub.waitFor(position);
    }
    while (this.#subscription && comparePositions(this.#firstAt, position) < 0) {
      if (comparePositions(sub.position, position) >= 0) return;
      await new Promise<void>((resolve) => this.#firstWaiters.add(resolve));
    }
  }

  async stop(): Promise<void> {
    await this.#subscription?.stop();
    this.#subscription = null;
    for (const wake of this.#firstWaiters) wake();
    this.#firstWaiters.clear();
  }
}
