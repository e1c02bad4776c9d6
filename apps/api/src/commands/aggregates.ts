import {
  decideImage,
  decideInstance,
  decideNode,
  decideSpec,
  decideUser,
  evolveImage,
  evolveInstance,
  evolveNameClaim,
  evolveNode,
  evolveSpec,
  evolveUser,
  initialImageState,
  initialInstanceState,
  initialNameClaimState,
  initialNodeState,
  initialSpecState,
  initialUserState,
} from '@tianqi/domain';
import type { AppendResult } from '@tianqi/events';
import type { PlatformStore } from '@tianqi/projections';

/** An aggregate as the command layer drives it: fold its stream, decide, append. */
interface AggregateDef<S, C, E> {
  initial: S;
  evolve: (state: S, event: E) => S;
  decide: (command: C, state: S) => E[];
}

const def = <S, C, E>(d: AggregateDef<S, C, E>) => d;

export const aggregates = {
  user: def({ initial: initialUserState, evolve: evolveUser, decide: decideUser }),
  image: def({ initial: initialImageState, evolve: evolveImage, decide: decideImage }),
  spec: def({ initial: initialSpecState, evolve: evolveSpec, decide: decideSpec }),
  node: def({ initial: initialNodeState, evolve: evolveNode, decide: decideNode }),
  instance: def({ initial: initialInstanceState, evolve: evolveInstance, decide: decideInstance }),
  name: def({ initial: initialNameClaimState, evolve: evolveNameClaim, decide: () => [] }),
};

export interface Loaded<S> {
  state: S;
  /** The stream's version: the expected version of the next append. */
  version: number;
}

const CACHE_LIMIT = 10_000;

type AnyAggregate = AggregateDef<unknown, unknown, unknown>;
interface Entry extends Loaded<unknown> {
  aggregate: AnyAggregate;
  /** When the read it was last brought up to date by began (performance.now()): it holds what others had committed by then. */
  readAt: number;
}

/**
 * Loads aggregates from their streams, keeping each folded state in memory so the next load reads only
 * the events appended since (events never change, so a cached fold is never wrong, only behind). What
 * this process appends is folded in as it is written (see `appended`), so a writer that holds a
 * stream's lock here can decide on the cached fold without reading: when another process wrote
 * meanwhile, the append's expected version refuses it and the command decides again on a fresh read.
 */
export class AggregateLoader {
  readonly #cache = new Map<string, Entry>();
  /** Streams the feed showed an event of that could not be folded here: the newest such version. */
  readonly #followedPast = new Map<string, number>();

  constructor(private readonly store: PlatformStore) {}

  /**
   * `cached`: the fold as this process last knew it, read only when it has none. `maxAgeMs`: that fold
   * when it was read from the store no longer ago than this (what others wrote since may be missing).
   * `atLeast`: that fold when it is at this version or later (one the caller saw in the log).
   */
  async load<S, C, E>(
    streamId: string,
    aggregate: AggregateDef<S, C, E>,
    options: { cached?: boolean; maxAgeMs?: number; atLeast?: number } = {},
  ): Promise<Loaded<S>> {
    const cached = this.#cache.get(streamId) as (Entry & Loaded<S>) | undefined;
    const started = performance.now();
    // A fold older than an event the feed has shown for its stream is not "this process's fold".
    const known = cached && cached.version >= (this.#followedPast.get(streamId) ?? 0) ? cached : undefined;
    if (known && options.cached) return known;
    if (known && options.atLeast !== undefined && known.version >= options.atLeast) return known;
    if (known && options.maxAgeMs !== undefined && started - known.readAt <= options.maxAgeMs) return known;
    const events = await this.store.readStream(streamId, { fromVersion: (cached?.version ?? 0) + 1 });
    if (events.length === 0 && cached) {
      cached.readAt = Math.max(cached.readAt, started);
      return cached;
    }
    return this.#fold(streamId, aggregate, cached, events, started);
  }

  /** Several streams brought up to date in one query (a create's image, spec, nodes and name). */
  async loadMany(wanted: readonly { streamId: string; aggregate: object }[]): Promise<void> {
    const bases = wanted.map((w) => this.#cache.get(w.streamId));
    const after = bases.map((b) => b?.version ?? 0);
    const started = performance.now();
    const { rows } = await this.store.pool.query<{
      stream_id: string;
      v: number;
      type: string;
      data: unknown;
    }>(
      `SELECT e.stream_id, e.stream_version AS v, e.type, e.data
       FROM unnest($1::text[], $2::int[]) AS w(stream_id, after)
       JOIN events e ON e.stream_id = w.stream_id AND e.stream_version > w.after
       ORDER BY e.stream_id, e.stream_version`,
      [wanted.map((w) => w.streamId), after],
    );
    const byStream = new Map<string, { version: number; type: string; data: unknown }[]>();
    for (const r of rows) {
      const where = `for stream ${r.stream_id}, version ${r.v}`;
      const event = { version: r.v, type: r.type, data: this.store.registry.parse(r.type, r.data, where) };
      const list = byStream.get(r.stream_id);
      if (list) list.push(event);
      else byStream.set(r.stream_id, [event]);
    }
    wanted.forEach((w, i) => {
      const events = byStream.get(w.streamId) ?? [];
      const base = bases[i];
      if (events.length > 0 || !base) this.#fold(w.streamId, w.aggregate, base, events, started);
      else base.readAt = Math.max(base.readAt, started);
    });
  }

  /**
   * What this process just appended, folded into the cached states that were at the versions the
   * append expected (parsed as a read would return them); any other cached state is left to be read.
   */
  appended(
    batches: readonly { streamId: string; expectedVersion: unknown; events: readonly unknown[] }[],
    result: AppendResult,
  ): void {
    if (result.duplicate) return;
    for (const batch of batches) {
      const entry = this.#cache.get(batch.streamId);
      const written = result.streams.find((s) => s.streamId === batch.streamId);
      if (!entry || !written || entry.version !== written.fromVersion - 1) continue;
      const events = batch.events.map((e) => {
        const { type, data } = e as { type: string; data: unknown };
        return { type, data: this.store.registry.parse(type, data, `for stream ${batch.streamId}`) };
      });
      this.#set(batch.streamId, {
        aggregate: entry.aggregate,
        state: events.reduce((s, e) => entry.aggregate.evolve(s, e), entry.state),
        version: written.toVersion,
        readAt: entry.readAt,
      });
    }
  }

  /**
   * An event this process read in the log (a follower's feed), folded into the cached state it comes
   * right after, or into a new one when it begins its stream; any other is left to be read. So the
   * follower's own look at the stream afterwards needs no read.
   */
  followed(
    aggregate: object,
    event: { streamId: string; version: number; type: string; data: unknown },
  ): void {
    const entry = this.#cache.get(event.streamId);
    if (entry && entry.version >= event.version) return;
    if (entry ? entry.version === event.version - 1 : event.version === 1) {
      // Begun from the feed, not read: no claim to have been read from the store at any moment.
      this.#fold(event.streamId, aggregate, entry, [event], entry?.readAt ?? Number.NEGATIVE_INFINITY);
      return;
    }
    // Not foldable here (no fold yet, or one behind): a read under way may still bring back an older
    // fold, which `cached` and `atLeast` must not take.
    this.#followedPast.delete(event.streamId);
    this.#followedPast.set(event.streamId, event.version);
    if (this.#followedPast.size > CACHE_LIMIT)
      this.#followedPast.delete(this.#followedPast.keys().next().value!);
  }

  /** `events` (in order) folded onto `base`, the cached fold they were read after (none: from the start). */
  #fold<S>(
    streamId: string,
    aggregate: object,
    base: Loaded<unknown> | undefined,
    events: readonly { version: number }[],
    readAt: number,
  ): Loaded<S> {
    const def = aggregate as unknown as AnyAggregate;
    const loaded: Entry = {
      aggregate: def,
      state: events.reduce((s, e) => def.evolve(s, e), base ? base.state : def.initial),
      version: events.at(-1)?.version ?? base?.version ?? 0,
      readAt,
    };
    this.#set(streamId, loaded);
    return (this.#cache.get(streamId) ?? loaded) as Loaded<S>;
  }

  /** Never backwards: a slow read that returns after a newer append was folded in changes nothing. */
  #set(streamId: string, entry: Entry): void {
    const now = this.#cache.get(streamId);
    if (now && now.version > entry.version) {
      // What the read saw is in the newer fold already, so that fold is as fresh as the read.
      now.readAt = Math.max(now.readAt, entry.readAt);
      return;
    }
    this.#cache.delete(streamId); // re-insert: the Map's order is the eviction order
    this.#cache.set(streamId, entry);
    if (this.#cache.size > CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value!);
  }
}
