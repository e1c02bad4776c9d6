import { type DockerStatus, type NodeCommand, type NodeState, streams } from '@tianqi/domain';
import type { PlatformStore } from '@tianqi/projections';
import type { SecretBox } from '../security/secrets.js';
import { type AggregateLoader, aggregates } from './aggregates.js';
import { renameBatches } from './catalog.js';
import type { CommandContext } from './context.js';
import { type CommandResult, execute } from './execute.js';
import { newId } from './ids.js';
import { claimName, releaseName } from './names.js';

type Fields = Omit<Extract<NodeCommand, { type: 'RegisterNode' }>, 'type' | 'nodeId'>;

/** What an admin sends: the secrets in plaintext, sealed here before anything is decided or stored. */
export type NodeInput = Omit<Fields, 'sshPassword' | 'clientKey'> & {
  sshPassword?: string | null;
  clientKey?: string | null;
};

export interface NodeCommands {
  register(input: NodeInput, ctx: CommandContext): Promise<CommandResult>;
  update(nodeId: string, changes: Partial<NodeInput>, ctx: CommandContext): Promise<CommandResult>;
  delete(nodeId: string, ctx: CommandContext): Promise<CommandResult>;
  recordDockerStatus(
    nodeId: string,
    status: DockerStatus,
    reason: string,
    ctx: CommandContext,
  ): Promise<CommandResult>;
  get(nodeId: string): Promise<NodeState | null>;
  /** The node's secrets in plaintext, for the platform's own connection to it. Never for a response. */
  openSecrets(node: NodeState): { sshPassword: string | null; clientKey: string | null };
}

export function nodeCommands(
  store: PlatformStore,
  loader: AggregateLoader,
  secrets: SecretBox,
): NodeCommands {
  const load = (id: string) => loader.load(streams.node(id), aggregates.node);
  // undefined: leave as is; null or "": none; text: seal it.
  const seal = (value: string | null | undefined) =>
    value === undefined ? undefined : value === null || value === '' ? null : secrets.seal(value);
  const sealed = <T extends Partial<NodeInput>>(input: T) => {
    const out: Record<string, unknown> = { ...input };
    for (const key of ['sshPassword', 'clientKey'] as const) {
      if (key in input) out[key] = seal(input[key]);
    }
    return out as Omit<T, 'sshPassword' | 'clientKey'> & {
      sshPassword?: string | null;
      clientKey?: string | null;
    };
  };
  return {
    register(input, ctx) {
      const nodeId = newId();
      const fields = sealed(input);
      return execute(store, ctx, nodeId, streams.node(nodeId), async () => {
        const events = aggregates.node.decide(
          { type: 'RegisterNode', nodeId, ...fields },
          aggregates.node.initial,
        );
        return [
          { streamId: streams.node(nodeId), expectedVersion: 'no_stream', events },
          await claimName(loader, 'node', input.name, nodeId),
        ];
      });
    },
    update(nodeId, changes, ctx) {
      const fields = sealed(changes);
      return execute(store, ctx, nodeId, streams.node(nodeId), async () => {
        const { state, version } = await load(nodeId);
        const events = aggregates.node.decide({ type: 'UpdateNode', changes: fields }, state);
        return [
          { streamId: streams.node(nodeId), expectedVersion: version, events },
          ...(events.length > 0 ? await renameBatches(loader, 'node', nodeId, state.name, changes.name) : []),
        ];
      });
    },
    delete(nodeId, ctx) {
      return execute(store, ctx, nodeId, streams.node(nodeId), async () => {
        const { state, version } = await load(nodeId);
        const events = aggregates.node.decide({ type: 'DeleteNode' }, state);
        return [
          { streamId: streams.node(nodeId), expectedVersion: version, events },
          await releaseName(loader, 'node', state.name, nodeId),
        ];
      });
    },
    recordDockerStatus(nodeId, status, reason, ctx) {
      return execute(store, ctx, nodeId, streams.node(nodeId), async () => {
        const { state, version } = await load(nodeId);
        const events = aggregates.node.decide({ type: 'RecordDockerStatus', status, reason }, state);
        return [{ streamId: streams.node(nodeId), expectedVersion: version, events }];
      });
    },
    async get(nodeId) {
      const { state } = await load(nodeId);
      return state.exists && !state.deleted ? state : null;
    },
    openSecrets(node) {
      return {
        sshPassword: node.sshPassword ? secrets.open(node.sshPassword) : null,
        clientKey: node.clientKey ? secrets.open(node.clientKey) : null,
      };
    },
  };
}
