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

/**
 * Loads aggregates from their streams, keeping each folded state in memory so the next load reads only
 * the events appended since (events never change, so a cached fold is never wrong, only behind).
 */
export class AggregateLoader {
  readonly #cache = new Map<string, Loaded<unknown>>();

  constructor(private readonly store: PlatformStore) {}

  async load<S, C, E>(streamId: string, aggregate: AggregateDef<S, C, E>): Promise<Loaded<S>> {
    const cached = this.#cache.get(streamId) as Loaded<S> | undefined;
    const from = cached ?? { state: aggregate.initial, version: 0 };
    const events = await this.store.readStream(streamId, { fromVersion: from.version + 1 });
    if (events.length === 0 && cached) return cached;
    const loaded = {
      state: events.reduce((s, e) => aggregate.evolve(s, e as unknown as E), from.state),
      version: events.at(-1)?.version ?? from.version,
    };
    this.#cache.delete(streamId); // re-insert: the Map's order is the eviction order
    this.#cache.set(streamId, loaded);
    if (this.#cache.size > CACHE_LIMIT) this.#cache.delete(this.#cache.keys().next().value!);
    return loaded;
  }
}
