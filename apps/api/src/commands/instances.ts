import { setImmediate } from 'node:timers/promises';
import {
  type Allocation,
  type Candidate,
  capacityShortfall,
  chooseBestFit,
  type InstanceCommand,
  type InstanceEvent,
  type InstanceState,
  idSchema,
  instanceNameSchema,
  matchNodes,
  nodeCapacity,
  parseOrThrow,
  type Rejection,
  remarkSchema,
  specDemand,
  streams,
  TianqiError,
} from '@tianqi/domain';
import type { AppendResult } from '@tianqi/events';
import type { PlatformStore } from '@tianqi/projections';
import { z } from 'zod';
import { KeyedMutex } from '../concurrency/keyed-mutex.js';
import { type AggregateLoader, aggregates } from './aggregates.js';
import { type CommandContext, commandKey, isAdminOrSystem, requireUser } from './context.js';
import { type CommandResult, execute } from './execute.js';
import { newId } from './ids.js';
import { type Batch, claimName, nameStream, releaseName } from './names.js';

/** Thrown by a decision that would write a node's stream without its lock: run again under it. */
class NeedsNodeLock extends Error {
  constructor(readonly nodeId: string) {
    super(`node ${nodeId}: its lock is needed`);
  }
}

export const createInstanceInputSchema = z.strictObject({
  name: instanceNameSchema,
  imageId: idSchema,
  specId: idSchema,
  /** A candidate the user picked; without it the scheduler chooses (best fit). Re-checked either way. */
  nodeId: idSchema.optional(),
  remark: remarkSchema,
});
export type CreateInstanceInput = z.input<typeof createInstanceInputSchema>;

export interface CreatedInstance extends CommandResult {
  nodeId: string;
  allocation: Allocation;
}

const requestTypeSchema = z.enum(['StartInstance', 'StopInstance', 'RestartInstance', 'DeleteInstance']);
type Request = z.output<typeof requestTypeSchema>;
export type Observation = Exclude<InstanceCommand, { type: Request | 'CreateInstance' }>;

export interface InstanceCommands {
  create(input: CreateInstanceInput, ctx: CommandContext): Promise<CreatedInstance>;
  /** The nodes that could host a spec now, and why the others cannot. */
  candidates(
    specId: string,
    ctx: CommandContext,
  ): Promise<{ candidates: Candidate[]; rejected: Rejection[] }>;
  request(
    instanceId: string,
    type: Request,
    ctx: CommandContext,
    options?: { refuseOverDataDisk?: boolean },
  ): Promise<CommandResult>;
  /**
   * What the platform observed (reconciler, sync). Several observations are decided in order, each on
   * the state the ones before it left, and appended together: one append, one wake-up of the followers.
   */
  record(
    instanceId: string,
    observation: Observation | readonly Observation[],
    ctx: CommandContext,
  ): Promise<CommandResult>;
  /**
   * `atLeastVersion`: the fold this process has will do when it is at that version or later; `cached`:
   * it will do whatever its version (what this process wrote is in it; others' writes may not be).
   */
  get(
    instanceId: string,
    options?: { atLeastVersion?: number; cached?: boolean },
  ): Promise<InstanceState | null>;
  /** An instance event a follower of the log read: folded into the cache (see AggregateLoader.followed). */
  followed(event: { streamId: string; version: number; type: string; data: unknown }): void;
  /** Many at once, up to date, in a few queries (a node's instances for its sync); null: none such. */
  getMany(instanceIds: readonly string[]): Promise<Map<string, InstanceState | null>>;
}

export interface InstanceDeps {
  /** The ids of the nodes to consider (the nodes read model); each is re-read from its stream. */
  nodeIds(): Promise<string[]>;
}

export function instanceCommands(
  store: PlatformStore,
  loader: AggregateLoader,
  deps: InstanceDeps,
): InstanceCommands {
  const loadInstance = (id: string) => loader.load(streams.instance(id), aggregates.instance);
  const loadNode = (id: string, cached = false) => loader.load(streams.node(id), aggregates.node, { cached });
  const nodeStreams = (ids: readonly string[]) =>
    ids.map((id) => ({ streamId: streams.node(id), aggregate: aggregates.node }));

  async function loadSpec(specId: string, ctx: CommandContext, cached = false) {
    const { state } = await loader.load(streams.spec(specId), aggregates.spec, { cached });
    if (!state.exists || state.deleted) throw new TianqiError('not_found', `no spec ${specId}`);
    if (!state.listed && !isAdminOrSystem(ctx))
      throw new TianqiError('validation', `spec ${state.name} is not offered now`);
    return state;
  }

  /** The nodes to schedule on, as last loaded (`ids` were brought up to date by one loadMany). */
  async function liveNodes(ids: readonly string[]) {
    const loaded = await Promise.all(ids.map((id) => loadNode(id, true)));
    return loaded.filter((n) => n.state.exists && !n.state.deleted);
  }

  /** The appends that give a released allocation back to its node. */
  async function releaseOnNode(state: InstanceState, events: InstanceEvent[]): Promise<Batch[]> {
    if (!events.some((e) => e.type === 'AllocationReleased')) return [];
    const node = await loadNode(state.nodeId);
    const nodeEvents = node.state.exists
      ? aggregates.node.decide({ type: 'ReleaseResources', instanceId: state.instanceId }, node.state)
      : [];
    return [{ streamId: streams.node(state.nodeId), expectedVersion: node.version, events: nodeEvents }];
  }

  /**
   * One writer of a node's stream at a time in this process: creates (and releases) for a node queue
   * here instead of racing on its expected version. Only commands that write the node's stream take it.
   */
  const nodeLocks = new KeyedMutex();

  /** What an earlier create under the same command id made. */
  async function existing(
    instanceId: string,
    prior: AppendResult | null,
    result?: CommandResult,
  ): Promise<CreatedInstance> {
    const { state, version } = await loadInstance(instanceId);
    let last = 0n;
    for (const s of prior?.streams ?? []) if (s.lastPosition > last) last = s.lastPosition;
    return {
      id: instanceId,
      version: result?.version ?? version,
      position: result?.position ?? (prior ? { transactionId: prior.transactionId, position: last } : null),
      nodeId: state.nodeId,
      allocation: state.allocation!,
    };
  }

  /**
   * Runs a command on an instance, under its node's lock only when its decision gives resources back
   * to the node (rare: most observations touch the instance's stream alone). `work(locked)` throws
   * NeedsNodeLock when it would write the node's stream without the lock; it is then run under it.
   */
  async function onNodeIfReleasing(work: (locked: boolean) => Promise<CommandResult>) {
    try {
      return await work(false);
    } catch (err) {
      if (!(err instanceof NeedsNodeLock)) throw err;
      return nodeLocks.run(err.nodeId, () => work(true));
    }
  }

  /**
   * A command on an existing instance: its events, what goes back to its node, and `also` (a name
   * given back), appended together; under the node's lock only when the node's stream is written.
   */
  function onInstance(
    instanceId: string,
    ctx: CommandContext,
    decide: (state: InstanceState) => Promise<{ events: InstanceEvent[]; also?: Batch[] }>,
  ): Promise<CommandResult> {
    return onNodeIfReleasing((locked) =>
      execute(
        store,
        ctx,
        instanceId,
        streams.instance(instanceId),
        async (attempt) => {
          // Decided first on the fold this process last knew (it has mostly just read or written it):
          // the append's version check refuses it if the stream moved. A decision of nothing, or a
          // refusal, may be the cache's own: those are decided again on a read.
          let { state, version } = await loader.load(streams.instance(instanceId), aggregates.instance, {
            cached: attempt === 1,
          });
          let decided = await decide(state).catch((err: unknown) => {
            if (attempt !== 1) throw err;
            return null;
          });
          if (attempt === 1 && (decided === null || decided.events.length === 0)) {
            ({ state, version } = await loadInstance(instanceId));
            decided = await decide(state);
          }
          const { events, also = [] } = decided!;
          return [
            { streamId: streams.instance(instanceId), expectedVersion: version, events },
            ...(await releaseIfLocked(state, events, locked)),
            ...also,
          ];
        },
        { loader },
      ),
    );
  }

  /** The appends that give a released allocation back to its node, when the node's lock is held. */
  async function releaseIfLocked(state: InstanceState, events: InstanceEvent[], locked: boolean) {
    const release = await releaseOnNode(state, events);
    if (release.length > 0 && !locked) throw new NeedsNodeLock(state.nodeId);
    return release;
  }

  async function imageAndSpec(
    input: { imageId: string; specId: string },
    ctx: CommandContext,
    cached = false,
  ) {
    const { state: image } = await loader.load(streams.image(input.imageId), aggregates.image, { cached });
    if (!image.exists || image.deleted) throw new TianqiError('not_found', `no image ${input.imageId}`);
    if (!image.listed && !isAdminOrSystem(ctx)) {
      throw new TianqiError('validation', `image ${image.name} is not offered now`);
    }
    const spec = await loadSpec(input.specId, ctx, cached);
    if (spec.slice && !image.supportsSlicing) {
      throw new TianqiError(
        'validation',
        `image ${image.name} does not support GPU memory slicing, which spec ${spec.name} uses`,
      );
    }
    return { image, spec };
  }

  /** The scheduler's choice (best fit), or a no-capacity error saying why each node was passed over. */
  async function bestNode(
    demand: ReturnType<typeof specDemand>,
    specName: string,
    instanceId: string,
    ids: readonly string[],
  ) {
    const nodes = (await liveNodes(ids)).map((n) => nodeCapacity(n.state));
    const { candidates, rejected } = matchNodes(nodes, demand, instanceId);
    const best = chooseBestFit(candidates);
    if (best) return best.nodeId;
    const why = rejected.map((r) => `${r.name}: ${r.reasons.join(', ')}`).join('; ');
    const shortfall = capacityShortfall(nodes, demand);
    throw new TianqiError(
      'no_capacity',
      `${shortfall === 'unsupported' ? `no node offers spec ${specName}` : `every node that offers spec ${specName} is full or unreachable now`}${why ? ` (${why})` : ' (no nodes)'}`,
      { rejected, shortfall },
    );
  }

  /** Users act on their own instances only; to anyone else another user's instance does not exist. */
  function visible(state: InstanceState, ctx: CommandContext): boolean {
    return state.exists && (isAdminOrSystem(ctx) || state.ownerId === requireUser(ctx).userId);
  }

  return {
    async create(rawInput, ctx) {
      const owner = requireUser(ctx);
      const input = parseOrThrow(createInstanceInputSchema, rawInput, 'instance');
      // A retried create is answered with the instance it made, whatever capacity is left now. Its
      // command id is not looked up first: the append finds it (and answers with the first call's
      // streams), and a retry that this call's checks refuse is looked up then.
      try {
        return await createNew();
      } catch (err) {
        const key = commandKey(ctx);
        // (If the look fails too, the create's own error is the answer.)
        const prior = key ? await store.findCommand(key).catch(() => null) : null;
        const made = prior?.streams.find((s) => s.streamId.startsWith(streams.instance('')));
        if (prior && made) return existing(made.streamId.slice(streams.instance('').length), prior);
        throw err;
      }

      async function createNew(): Promise<CreatedInstance> {
        const instanceId = newId();
        const scope = `instance.${owner.userId}` as const;
        const ids = input.nodeId ? [input.nodeId] : await deps.nodeIds();
        // One read brings everything the decision needs up to date; the rest reads the cache.
        await loader.loadMany([
          { streamId: streams.image(input.imageId), aggregate: aggregates.image },
          { streamId: streams.spec(input.specId), aggregate: aggregates.spec },
          { streamId: nameStream(scope, input.name), aggregate: aggregates.name },
          ...nodeStreams(ids),
        ]);
        const { image, spec } = await imageAndSpec(input, ctx, true);
        const demand = specDemand(spec);
        for (let attempt = 1; ; attempt++) {
          // A node that filled up meanwhile: the others are read again before choosing again.
          if (attempt > 1 && !input.nodeId) await loader.loadMany(nodeStreams(ids));
          const nodeId = input.nodeId ?? (await bestNode(demand, spec.name, instanceId, ids));
          try {
            // One create at a time per node in this process: they queue instead of racing on its stream.
            return await nodeLocks.run(nodeId, () => allocate(nodeId));
          } catch (err) {
            // The node the scheduler picked filled up meanwhile: pick again, another may fit.
            const refilled = err instanceof TianqiError && err.code === 'no_capacity';
            if (!refilled || input.nodeId || attempt >= 5) throw err;
          }
        }

        async function allocate(nodeId: string): Promise<CreatedInstance> {
          let granted: { nodeId: string; allocation: Allocation } | undefined;
          // Under the node's lock the cached node is what this process last wrote or read: decided on
          // without a read (attempt 1); if another process wrote meanwhile, the append is refused and
          // attempt 2 reads it.
          const decide = async (attempt: number): Promise<Batch[]> => {
            let node = await loadNode(nodeId, attempt === 1);
            // The node's own decider re-checks the choice against its current allocations. A refusal
            // on the cached node is asked again on a read: what another writer gave back is not cached.
            const onNode = () => {
              if (!node.state.exists || node.state.deleted)
                throw new TianqiError('not_found', `no node ${nodeId}`);
              return aggregates.node.decide(
                { type: 'AllocateResources', instanceId, spec: demand },
                node.state,
              );
            };
            let nodeEvents: ReturnType<typeof onNode>;
            try {
              nodeEvents = onNode();
            } catch (err) {
              if (attempt !== 1) throw err;
              node = await loadNode(nodeId);
              nodeEvents = onNode();
            }
            const allocation = (
              nodeEvents[0] as Extract<(typeof nodeEvents)[0], { type: 'ResourcesAllocated' }>
            ).data.allocation;
            granted = { nodeId, allocation };
            const instanceEvents = aggregates.instance.decide(
              {
                type: 'CreateInstance',
                instanceId,
                name: input.name,
                ownerId: owner.userId,
                remark: input.remark,
                image: { imageId: image.imageId, name: image.name, address: image.address },
                spec: { ...demand, specId: spec.specId, name: spec.name, pricePerHour: spec.pricePerHour },
                node: { nodeId, name: node.state.name },
                allocation,
              },
              aggregates.instance.initial,
            );
            return [
              {
                streamId: streams.instance(instanceId),
                expectedVersion: 'no_stream',
                events: instanceEvents,
              },
              { streamId: streams.node(nodeId), expectedVersion: node.version, events: nodeEvents },
              await claimName(loader, scope, input.name, instanceId, attempt === 1),
            ];
          };
          const result = await execute(store, ctx, instanceId, streams.instance(instanceId), decide, {
            loader,
            skipFirstLook: true,
          });
          // Another call with the same command id got there first: its instance is the answer.
          if (result.id !== instanceId) return existing(result.id, null, result);
          return { ...result, ...granted! };
        }
      }
    },

    async candidates(specId, ctx) {
      const spec = await loadSpec(parseOrThrow(idSchema, specId, 'specId'), ctx);
      const ids = await deps.nodeIds();
      await loader.loadMany(nodeStreams(ids));
      return matchNodes(
        (await liveNodes(ids)).map((n) => nodeCapacity(n.state)),
        specDemand(spec),
        'preview',
      );
    },

    async request(instanceId, rawType, ctx, options = {}) {
      parseOrThrow(idSchema, instanceId, 'instanceId');
      // Only what a user may ask for: observations are the platform's (see record).
      const type = parseOrThrow(requestTypeSchema, rawType, 'type');
      return onInstance(instanceId, ctx, async (state) => {
        if (!visible(state, ctx)) throw new TianqiError('not_found', 'no such instance');
        const starts = type === 'StartInstance' || type === 'RestartInstance';
        const command: InstanceCommand = starts
          ? { type, refuseOverDataDisk: options.refuseOverDataDisk ?? false }
          : { type };
        return {
          events: aggregates.instance.decide(command, state),
          also:
            type === 'DeleteInstance'
              ? [await releaseName(loader, `instance.${state.ownerId}`, state.name, instanceId)]
              : [],
        };
      });
    },

    record(instanceId, observation, ctx) {
      const observations: readonly Observation[] = Array.isArray(observation) ? observation : [observation];
      return onInstance(instanceId, ctx, async (state) => {
        const events: InstanceEvent[] = [];
        let now = state;
        for (const o of observations) {
          for (const event of aggregates.instance.decide(o, now)) {
            events.push(event);
            now = aggregates.instance.evolve(now, event);
          }
        }
        return { events };
      });
    },

    async get(instanceId, options) {
      const { state } = await loader.load(streams.instance(instanceId), aggregates.instance, {
        atLeast: options?.atLeastVersion,
        cached: options?.cached,
      });
      return state.exists ? state : null;
    },

    followed(event) {
      loader.followed(aggregates.instance, event);
    },

    async getMany(instanceIds) {
      const out = new Map<string, InstanceState | null>();
      // A node's thousands of instances in queries of 1,000 (not one each), then read from the cache.
      for (let i = 0; i < instanceIds.length; i += 1_000) {
        if (i > 0) await setImmediate(); // the event loop runs between chunks (see syncNode)
        const chunk = instanceIds.slice(i, i + 1_000);
        await loader.loadMany(
          chunk.map((id) => ({ streamId: streams.instance(id), aggregate: aggregates.instance })),
        );
        for (const id of chunk) {
          const { state } = await loader.load(streams.instance(id), aggregates.instance, { cached: true });
          out.set(id, state.exists ? state : null);
        }
      }
      return out;
    },
  };
}
