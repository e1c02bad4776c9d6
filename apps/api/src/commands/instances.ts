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
import { type Batch, claimName, releaseName } from './names.js';

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
  /** What the platform observed (reconciler, sync). */
  record(instanceId: string, observation: Observation, ctx: CommandContext): Promise<CommandResult>;
  get(instanceId: string): Promise<InstanceState | null>;
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
  const loadNode = (id: string) => loader.load(streams.node(id), aggregates.node);

  async function loadSpec(specId: string, ctx: CommandContext) {
    const { state } = await loader.load(streams.spec(specId), aggregates.spec);
    if (!state.exists || state.deleted) throw new TianqiError('not_found', `no spec ${specId}`);
    if (!state.listed && !isAdminOrSystem(ctx))
      throw new TianqiError('validation', `spec ${state.name} is not offered now`);
    return state;
  }

  async function allNodes() {
    const loaded = await Promise.all((await deps.nodeIds()).map(loadNode));
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
   * Runs a command on an existing instance under its node's lock, since it may give resources back
   * to the node; an instance that does not exist (yet) needs no lock.
   */
  async function onNodeOf<T>(instanceId: string, work: () => Promise<T>): Promise<T> {
    const { state } = await loadInstance(instanceId);
    return state.exists ? nodeLocks.run(state.nodeId, work) : work();
  }

  async function imageAndSpec(input: { imageId: string; specId: string }, ctx: CommandContext) {
    const { state: image } = await loader.load(streams.image(input.imageId), aggregates.image);
    if (!image.exists || image.deleted) throw new TianqiError('not_found', `no image ${input.imageId}`);
    if (!image.listed && !isAdminOrSystem(ctx)) {
      throw new TianqiError('validation', `image ${image.name} is not offered now`);
    }
    const spec = await loadSpec(input.specId, ctx);
    if (spec.slice && !image.supportsSlicing) {
      throw new TianqiError(
        'validation',
        `image ${image.name} does not support GPU memory slicing, which spec ${spec.name} uses`,
      );
    }
    return { image, spec };
  }

  /** The scheduler's choice (best fit), or a no-capacity error saying why each node was passed over. */
  async function bestNode(demand: ReturnType<typeof specDemand>, specName: string, instanceId: string) {
    const nodes = (await allNodes()).map((n) => nodeCapacity(n.state));
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
      // A retried create is answered with the instance it made, whatever capacity is left now.
      const key = commandKey(ctx);
      const prior = key ? await store.findCommand(key) : null;
      const made = prior?.streams.find((s) => s.streamId.startsWith(streams.instance('')));
      if (prior && made) return existing(made.streamId.slice(streams.instance('').length), prior);
      const instanceId = newId();
      const { image, spec } = await imageAndSpec(input, ctx);
      const demand = specDemand(spec);
      for (let attempt = 1; ; attempt++) {
        const nodeId = input.nodeId ?? (await bestNode(demand, spec.name, instanceId));
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
        const result = await execute(store, ctx, instanceId, streams.instance(instanceId), async () => {
          const node = await loadNode(nodeId);
          if (!node.state.exists || node.state.deleted)
            throw new TianqiError('not_found', `no node ${nodeId}`);
          // The node's own decider re-checks the choice against its current allocations.
          const nodeEvents = aggregates.node.decide(
            { type: 'AllocateResources', instanceId, spec: demand },
            node.state,
          );
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
            { streamId: streams.instance(instanceId), expectedVersion: 'no_stream', events: instanceEvents },
            { streamId: streams.node(nodeId), expectedVersion: node.version, events: nodeEvents },
            await claimName(loader, `instance.${owner.userId}`, input.name, instanceId),
          ];
        });
        // Another call with the same command id got there first: its instance is the answer.
        if (result.id !== instanceId) return existing(result.id, null, result);
        return { ...result, ...granted! };
      }
    },

    async candidates(specId, ctx) {
      const spec = await loadSpec(parseOrThrow(idSchema, specId, 'specId'), ctx);
      return matchNodes(
        (await allNodes()).map((n) => nodeCapacity(n.state)),
        specDemand(spec),
        'preview',
      );
    },

    async request(instanceId, rawType, ctx, options = {}) {
      parseOrThrow(idSchema, instanceId, 'instanceId');
      // Only what a user may ask for: observations are the platform's (see record).
      const type = parseOrThrow(requestTypeSchema, rawType, 'type');
      return onNodeOf(instanceId, () =>
        execute(store, ctx, instanceId, streams.instance(instanceId), async () => {
          const { state, version } = await loadInstance(instanceId);
          if (!visible(state, ctx)) throw new TianqiError('not_found', 'no such instance');
          const starts = type === 'StartInstance' || type === 'RestartInstance';
          const command: InstanceCommand = starts
            ? { type, refuseOverDataDisk: options.refuseOverDataDisk ?? false }
            : { type };
          const events = aggregates.instance.decide(command, state);
          const nameRelease =
            type === 'DeleteInstance'
              ? [await releaseName(loader, `instance.${state.ownerId}`, state.name, instanceId)]
              : [];
          return [
            { streamId: streams.instance(instanceId), expectedVersion: version, events },
            ...(await releaseOnNode(state, events)),
            ...nameRelease,
          ];
        }),
      );
    },

    record(instanceId, observation, ctx) {
      return onNodeOf(instanceId, () =>
        execute(store, ctx, instanceId, streams.instance(instanceId), async () => {
          const { state, version } = await loadInstance(instanceId);
          const events = aggregates.instance.decide(observation, state);
          return [
            { streamId: streams.instance(instanceId), expectedVersion: version, events },
            ...(await releaseOnNode(state, events)),
          ];
        }),
      );
    },

    async get(instanceId) {
      const { state } = await loadInstance(instanceId);
      return state.exists ? state : null;
    },
  };
}
