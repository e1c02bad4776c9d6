import type pg from 'pg';
import { isServerError } from './database-errors.js';
import type { Notifier } from './notifier.js';
import { withClient } from './with-client.js';

/** One append as `tianqi_append_group` reads it (see migrations/0004_group_append.sql). */
export interface AppendPayload {
  commandId: string | null;
  metadata: unknown;
  batches: { streamId: string; expectedVersion: string; events: { type: string; data: unknown }[] }[];
}

export interface RawAppendResult {
  transactionId: string;
  streams: {
    streamId: string;
    fromVersion: number;
    toVersion: number;
    firstPosition: string;
    lastPosition: string;
  }[];
}

export type AppendOutcome =
  | { ok: RawAppendResult }
  | { duplicate: RawAppendResult }
  | { conflict: { streamId: string; expected: string; actual: number } };

export interface GroupCommitOptions {
  /** Groups in flight at once; while they are, new appends wait and go together in the next one. */
  concurrency?: number;
  /** At most this many appends, and this many events, in one group. */
  maxAppends?: number;
  maxEvents?: number;
}

interface Waiting {
  payload: AppendPayload;
  /** Its events in all batches: groups are capped by it. */
  size: number;
  /** Its streams and command id: the appends of one group share none. */
  keys: string[];
  resolve: (outcome: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: appends that arrive while earlier ones are being committed are sent together, in
 * one statement, one transaction and one commit (one WAL flush), each still with its own outcome.
 * An append that finds nothing in flight goes at once, so a lone writer waits no longer than before.
 */
export class GroupCommit {
  readonly #pool: pg.Pool;
  readonly #concurrency: number;
  readonly #maxAppends: number;
  readonly #maxEvents: number;
  readonly #notifier: Notifier;
  #waiting: Waiting[] = [];
  #inFlight = 0;
  /** The streams and command ids of the groups in flight. */
  readonly #busy = new Set<string>();

  constructor(pool: pg.Pool, notifier: Notifier, options: GroupCommitOptions = {}) {
    this.#pool = pool;
    this.#notifier = notifier;
    this.#concurrency = options.concurrency ?? 2;
    this.#maxAppends = options.maxAppends ?? 100;
    this.#maxEvents = options.maxEvents ?? 10_000;
  }

  append(payload: AppendPayload, size: number): Promise<AppendOutcome> {
    const keys = payload.batches.map((b) => `stream:${b.streamId}`);
    if (payload.commandId !== null) keys.push(`command:${payload.commandId}`);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ payload, size, keys, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && this.#waiting.length > 0) {
      const group = this.#take();
      if (group.length === 0) return; // all wait for streams of a group in flight
      this.#inFlight++;
      for (const w of group) for (const k of w.keys) this.#busy.add(k);
      void this.#commit(group).finally(() => {
        this.#inFlight--;
        for (const w of group) for (const k of w.keys) this.#busy.delete(k);
        // Writers answered just now append again in the next turn: let them join the next group.
        setImmediate(() => this.#pump());
      });
    }
  }

  /**
   * The next group: waiting appends in order, leaving for a later group any that shares a stream or
   * a command id with one in flight, taken or left before it. So the appends of one group are
   * independent of each other, and each stream's appends are written in the order they were made.
   */
  #take(): Waiting[] {
    const group: Waiting[] = [];
    const left: Waiting[] = [];
    const seen = new Set(this.#busy);
    let events = 0;
    for (const w of this.#waiting) {
      const fits =
        group.length < this.#maxAppends &&
        (group.length === 0 || events + w.size <= this.#maxEvents) &&
        !w.keys.some((k) => seen.has(k));
      for (const k of w.keys) seen.add(k);
      if (fits) {
        group.push(w);
        events += w.size;
      } else {
        left.push(w);
      }
    }
    this.#waiting = left;
    return group;
  }

  async #commit(group: Waiting[]): Promise<void> {
    let outcomes: AppendOutcome[];
    try {
      outcomes = await this.#send(group.map((w) => w.payload));
    } catch (err) {
      this.#notifier.appended();
      // The statement was refused and rolled back, so nothing was written: each append is tried on
      // its own, and only the one at fault fails. After a lost connection the outcome is unknown,
      // as it would be for each alone, and every append of the group hears of it.
      if (group.length > 1 && isServerError(err)) {
        for (const w of group) await this.#commit([w]);
        return;
      }
      for (const w of group) w.reject(err);
      return;
    }
    // Before the appends are answered, so subscribers in this process are awake when they are.
    this.#notifier.appended();
    const versions = new Map<string, number>();
    const saw = (streamId: string, version: number) =>
      versions.set(streamId, Math.max(version, versions.get(streamId) ?? 0));
    group.forEach((w, i) => {
      const outcome = outcomes[i]!;
      if ('ok' in outcome) for (const s of outcome.ok.streams) saw(s.streamId, s.toVersion);
      if ('conflict' in outcome) saw(outcome.conflict.streamId, outcome.conflict.actual);
      w.resolve(outcome);
    });
    this.#answerStale(versions);
  }

  /**
   * A waiting append that expects a stream below the version a group just saw it at can only fail
   * (a stream's version never goes down), so it is answered now, without a round trip: on a busy
   * stream the writers that lost a race learn so at once, not one statement after another. Appends
   * with a command id go on: theirs may be a retry, answered with the first call's result.
   */
  #answerStale(versions: Map<string, number>): void {
    if (versions.size === 0) return;
    this.#waiting = this.#waiting.filter((w) => {
      if (w.payload.commandId !== null) return true;
      for (const b of w.payload.batches) {
        const actual = versions.get(b.streamId);
        if (actual === undefined || b.expectedVersion === 'any') continue;
        const expected = b.expectedVersion === 'no_stream' ? 0 : Number(b.expectedVersion);
        if (expected < actual) {
          w.resolve({ conflict: { streamId: b.streamId, expected: b.expectedVersion, actual } });
          return false;
        }
      }
      return true;
    });
  }

  #send(payloads: AppendPayload[]): Promise<AppendOutcome[]> {
    // Not pool.query: it discards the connection after any error (withClient keeps it after a
    // statement the server refused).
    return withClient(this.#pool, async (client) => {
      const { rows } = await client.query<{ outcomes: AppendOutcome[] }>({
        name: 'tianqi_append_group',
        text: 'SELECT tianqi_append_group($1::jsonb) AS outcomes',
        values: [JSON.stringify(payloads)],
      });
      return rows[0]!.outcomes;
    });
  }
}
