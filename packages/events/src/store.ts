import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ConcurrencyError, TianqiError } from './errors.js';
import {
  type AppendOutcome,
  type AppendPayload,
  GroupCommit,
  type GroupCommitOptions,
  type RawAppendResult,
} from './group-commit.js';
import { Notifier } from './notifier.js';
import { afterPositionSql, type GlobalPosition, positionParams, START } from './positions.js';
import type { EventData, EventInput, EventRegistry, EventSchemas } from './registry.js';
import { type SubscribeOptions, Subscription } from './subscription.js';
import {
  type AppendResult,
  type EventMetadata,
  type EventMetadataInput,
  type ExpectedVersion,
  eventMetadataSchema,
  type RecordedEvent,
} from './types.js';

export type StoredEvent<S extends EventSchemas> = RecordedEvent & EventData<S>;

export interface AppendBatch<S extends EventSchemas> {
  streamId: string;
  expectedVersion: ExpectedVersion;
  events: readonly EventInput<S>[];
}

export interface AppendOptions {
  /** Who and what caused these events; the same for every event of the append. */
  metadata?: EventMetadataInput;
  /** A retry with the same command id appends nothing and returns the first result. */
  commandId?: string;
}

export interface ReadAllResult<S extends EventSchemas> {
  events: StoredEvent<S>[];
  /** Where the next read starts: after the last event returned, or `from` when none was. */
  next: GlobalPosition;
  /**
   * True when committed events exist past `next` that cannot be handed out yet because an older
   * transaction is still running; a follower should look again soon.
   */
  blocked: boolean;
}

export interface EventStoreOptions<S extends EventSchemas> {
  pool: pg.Pool;
  registry: EventRegistry<S>;
  /** For the LISTEN connection; defaults to the pool's settings. */
  connectionString?: string;
  onError?: (err: Error) => void;
  /** How appends share transactions; see GroupCommit. */
  groupCommit?: GroupCommitOptions;
}

interface EventRow {
  position: string;
  transaction_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  recorded_at: Date;
  horizon?: string;
}

const STREAM_ID = /^[\w.:@/-]{1,200}$/u;
const MAX_EVENTS_PER_APPEND = 10_000;
const COLUMNS =
  'e.position, e.transaction_id::text AS transaction_id, e.stream_id, e.stream_version, e.type, e.data, e.metadata, e.recorded_at';

export class EventStore<S extends EventSchemas> {
  readonly pool: pg.Pool;
  readonly registry: EventRegistry<S>;
  readonly notifier: Notifier;
  readonly #onError: (err: Error) => void;
  readonly #group: GroupCommit;
  /** The followers' reads now running, by the position they read after (see #followerRead). */
  readonly #followerReads = new Map<
    string,
    { generation: number; limit: number; promise: Promise<ReadAllResult<S>> }
  >();

  constructor(options: EventStoreOptions<S>) {
    this.pool = options.pool;
    this.registry = options.registry;
    this.#onError = options.onError ?? (() => {});
    const poolOptions = (options.pool as unknown as { options?: { connectionString?: string } }).options;
    this.notifier = new Notifier(
      options.pool,
      options.connectionString ?? poolOptions?.connectionString,
      this.#onError,
    );
    this.#group = new GroupCommit(options.pool, this.notifier, options.groupCommit);
  }

  /** Appends events to one stream. */
  append(
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: readonly EventInput<S>[],
    options: AppendOptions = {},
  ): Promise<AppendResult> {
    return this.appendMany([{ streamId, expectedVersion, events }], options);
  }

  /**
   * Appends to several streams in one transaction: all of it is written or none. Each stream's
   * expected version is checked; a mismatch raises ConcurrencyError and writes nothing. Appends made
   * while others are being committed share their transaction and commit (see GroupCommit); each
   * keeps its own outcome.
   */
  async appendMany(batches: readonly AppendBatch<S>[], options: AppendOptions = {}): Promise<AppendResult> {
    const { payload, size } = this.#payload(batches, options);
    let outcome: AppendOutcome;
    try {
      outcome = await this.#group.append(payload, size);
    } catch (err) {
      throw translateAppendError(err);
    }
    if ('conflict' in outcome) {
      const { streamId, expected, actual } = outcome.conflict;
      throw new ConcurrencyError(streamId, expected, actual);
    }
    return 'ok' in outcome ? toAppendResult(outcome.ok, false) : toAppendResult(outcome.duplicate, true);
  }

  /**
   * The SQL and parameters of an append, validated, for callers that must run it on their own
   * connection inside a transaction they control (tests that hold a transaction open, for one).
   * The append must be that transaction's first write, and the transaction must not wait for an
   * append made through this store meanwhile (that one may be grouped with an append to a stream
   * this transaction has locked). Call `notifier.appended()` after it ends.
   */
  prepareAppend(
    batches: readonly AppendBatch<S>[],
    options: AppendOptions = {},
  ): { sql: string; params: unknown[] } {
    return {
      sql: 'SELECT tianqi_append($1::jsonb) AS result',
      params: [JSON.stringify(this.#payload(batches, options).payload)],
    };
  }

  #payload(
    batches: readonly AppendBatch<S>[],
    options: AppendOptions,
  ): { payload: AppendPayload; size: number } {
    if (batches.length === 0) throw new TianqiError('validation', 'an append needs at least one stream');
    const seen = new Set<string>();
    let total = 0;
    const metadataResult = eventMetadataSchema.safeParse({
      ...options.metadata,
      commandId: options.commandId ?? options.metadata?.commandId ?? null,
    });
    if (!metadataResult.success) {
      throw new TianqiError('validation', `invalid event metadata: ${metadataResult.error.message}`);
    }
    const metadata = metadataResult.data;
    if (!metadata.correlationId) metadata.correlationId = metadata.commandId ?? randomUUID();
    const checked = batches.map((batch) => {
      if (!STREAM_ID.test(batch.streamId)) {
        throw new TianqiError('validation', `invalid stream id "${batch.streamId}"`);
      }
      if (seen.has(batch.streamId)) {
        throw new TianqiError('validation', `stream ${batch.streamId} appears twice in one append`);
      }
      seen.add(batch.streamId);
      const ev = batch.expectedVersion;
      if (typeof ev === 'number' && !(Number.isInteger(ev) && ev >= 0)) {
        throw new TianqiError('validation', `invalid expected version ${ev} for stream ${batch.streamId}`);
      }
      if (batch.events.length === 0) {
        throw new TianqiError('validation', `no events to append to stream ${batch.streamId}`);
      }
      total += batch.events.length;
      return {
        streamId: batch.streamId,
        expectedVersion: String(ev),
        events: batch.events.map((e) => ({
          type: e.type,
          data: this.registry.parse(e.type, e.data, `for stream ${batch.streamId}`),
        })),
      };
    });
    if (total > MAX_EVENTS_PER_APPEND) {
      throw new TianqiError('validation', `an append may hold at most ${MAX_EVENTS_PER_APPEND} events`);
    }
    return { payload: { commandId: options.commandId ?? null, metadata, batches: checked }, size: total };
  }

  /**
   * The result of the append made under this command id, if there was one: a handler checks this
   * before deciding, so a retry is answered with the first call's outcome even when deciding again
   * would now refuse (the name it claimed is taken — by itself).
   */
  async findCommand(commandId: string): Promise<AppendResult | null> {
    const { rows } = await this.pool.query<{ result: RawAppendResult }>(
      'SELECT result FROM commands WHERE command_id = $1',
      [commandId],
    );
    return rows[0] ? toAppendResult(rows[0].result, true) : null;
  }

  /** A stream's current version: its number of events (0 when it does not exist). */
  async streamVersion(streamId: string): Promise<number> {
    const { rows } = await this.pool.query<{ v: number }>(
      'SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $1',
      [streamId],
    );
    return rows[0]!.v;
  }

  /**
   * A stream's events in order; `toVersion` or `until` (recorded at or before) stop early, which is how
   * an aggregate's state at a past version or moment is rebuilt.
   */
  async readStream(
    streamId: string,
    options: { fromVersion?: number; toVersion?: number; until?: Date } = {},
  ): Promise<StoredEvent<S>[]> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${COLUMNS} FROM events e
       WHERE stream_id = $1 AND stream_version >= $2 AND stream_version <= $3
         AND ($4::timestamptz IS NULL OR recorded_at <= $4)
       ORDER BY stream_version`,
      [streamId, options.fromVersion ?? 1, options.toVersion ?? 2_147_483_647, options.until ?? null],
    );
    return rows.map((r) => this.#toEvent(r));
  }

  /**
   * Events after `from` in the global order, at most `limit`, never past a transaction that is still
   * running (so no event that commits late is ever skipped by a reader that follows this order).
   */
  async readAll(from: GlobalPosition = START, limit = 1000): Promise<ReadAllResult<S>> {
    const { rows } = await this.pool.query<EventRow & { horizon: string }>(
      `SELECT ${COLUMNS}, pg_snapshot_xmin(pg_current_snapshot())::text AS horizon
       FROM events e
       WHERE ${afterPositionSql(1, 'e')}
       ORDER BY e.transaction_id, e.position -- the columns, not their text forms in the select list
       LIMIT $3`,
      [...positionParams(from), limit],
    );
    const events: StoredEvent<S>[] = [];
    let blocked = false;
    if (rows.length > 0) {
      const horizon = BigInt(rows[0]!.horizon);
      for (const row of rows) {
        if (BigInt(row.transaction_id) >= horizon) {
          blocked = true;
          break;
        }
        events.push(this.#toEvent(row));
      }
    }
    const last = events.at(-1);
    return {
      events,
      next: last ? { transactionId: last.transactionId, position: last.position } : from,
      blocked,
    };
  }

  /** The position of the newest event that can be read now (START when there is none). */
  async head(): Promise<GlobalPosition> {
    const { rows } = await this.pool.query<{ transaction_id: string; position: string }>(
      `SELECT e.transaction_id::text, e.position FROM events e
       WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY e.transaction_id DESC, e.position DESC LIMIT 1`,
    );
    const row = rows[0];
    return row ? { transactionId: BigInt(row.transaction_id), position: BigInt(row.position) } : START;
  }

  /** Catches up from a checkpoint, then follows live appends. See Subscription. */
  subscribe(options: SubscribeOptions<StoredEvent<S>>): Subscription<StoredEvent<S>> {
    void this.notifier.listen();
    const sub = new Subscription<StoredEvent<S>>(
      {
        pool: this.pool,
        notifier: this.notifier,
        readAll: (from, limit) => this.#followerRead(from, limit),
        onError: this.#onError,
      },
      options,
    );
    sub.start();
    return sub;
  }

  /**
   * readAll for the subscriptions. The followers of one process (read models, reconciler, node edits)
   * are mostly at the same position, and one append wakes them all at once: a read that one of them
   * started is shared by the others, when no wake-up has come since it started (so it sees every
   * commit they were told of). One query instead of one per follower, each time anything is appended.
   */
  #followerRead(from: GlobalPosition, limit: number): Promise<ReadAllResult<S>> {
    const key = `${from.transactionId}:${from.position}`;
    const generation = this.notifier.generation;
    const running = this.#followerReads.get(key);
    // Shared only by a read that asked for as many: a shorter answer would look like the end of the log.
    if (running?.generation === generation && running.limit >= limit)
      return running.promise.then((r) => upTo(r, limit));
    // At least a common batch, so that followers of smaller batches can share it, each taking its part.
    const read = Math.max(limit, SHARED_READ_LIMIT);
    const promise = this.readAll(from, read);
    this.#followerReads.set(key, { generation, limit: read, promise });
    const forget = () => {
      if (this.#followerReads.get(key)?.promise === promise) this.#followerReads.delete(key);
    };
    promise.then(forget, forget);
    return promise.then((r) => upTo(r, limit));
  }

  async close(): Promise<void> {
    await this.notifier.close();
  }

  #toEvent(row: EventRow): StoredEvent<S> {
    const where = `at position ${row.position} (stream ${row.stream_id}, version ${row.stream_version})`;
    return {
      position: BigInt(row.position),
      transactionId: BigInt(row.transaction_id),
      streamId: row.stream_id,
      version: row.stream_version,
      type: row.type,
      data: this.registry.parse(row.type, row.data, where),
      metadata: row.metadata,
      recordedAt: row.recorded_at,
    } as StoredEvent<S>;
  }
}

function toAppendResult(raw: RawAppendResult, duplicate: boolean): AppendResult {
  return {
    transactionId: BigInt(raw.transactionId),
    duplicate,
    streams: raw.streams.map((s) => ({
      streamId: s.streamId,
      fromVersion: s.fromVersion,
      toVersion: s.toVersion,
      firstPosition: BigInt(s.firstPosition),
      lastPosition: BigInt(s.lastPosition),
    })),
  };
}

/** Maps the append function's SQLSTATEs to typed errors. */
export function translateAppendError(err: unknown): unknown {
  const pgErr = err as { code?: string; detail?: string; message?: string };
  if (pgErr.code === 'TQ001' && pgErr.detail) {
    const d = JSON.parse(pgErr.detail) as { streamId: string; expected: string; actual: number };
    return new ConcurrencyError(d.streamId, d.expected, d.actual);
  }
  if (pgErr.code === 'TQ002')
    return new TianqiError('internal', pgErr.message ?? 'append must be first write');
  return err;
}

/** The batch a follower's shared read asks for at least (the common batch size is 500 to 1,000). */
const SHARED_READ_LIMIT = 1_000;

/** A shared read cut to a follower's batch size: a full batch, so the follower reads on at once. */
function upTo<S extends EventSchemas>(read: ReadAllResult<S>, limit: number): ReadAllResult<S> {
  if (read.events.length <= limit) return read;
  const events = read.events.slice(0, limit);
  const last = events.at(-1)!;
  return { events, next: { transactionId: last.transactionId, position: last.position }, blocked: false };
}
