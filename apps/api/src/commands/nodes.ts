import { type DockerStatus, type NodeCommand, type NodeState, streams } from '@tianqi/domain';
import type { PlatformStore } from '@tianqi/projections';
import type { SecretBox } from '../security/secrets.js';
import { type AggregateLoader, aggregates } from './aggregates.js';
import type { CommandContext } from './context.js';
import { type CommandResult, execute } from './execute.js';
import { namedAggregateCommands } from './named-aggregate.js';

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
  /** What the sync saw of managed containers no instance owns; what Docker said of the system disk limit. */
  act(
    nodeId: string,
    command: Extract<NodeCommand, { type: 'RecordOrphan' | 'RecordOrphanGone' | 'RecordSystemDiskLimit' }>,
    ctx: CommandContext,
  ): Promise<CommandResult>;
  recordDockerStatus(
    nodeId: string,
    status: DockerStatus,
    reason: string,
    ctx: CommandContext,
  ): Promise<CommandResult>;
  /** `maxAgeMs`: a fold this process read no longer ago than that will do (see AggregateLoader.load). */
  get(nodeId: string, options?: { maxAgeMs?: number }): Promise<NodeState | null>;
  /** The node's secrets in plaintext, for the platform's own connection to it. Never for a response. */
  openSecrets(node: NodeState): { sshPassword: string | null; clientKey: string | null };
}

export function nodeCommands(
  store: PlatformStore,
  loader: AggregateLoader,
  secrets: SecretBox,
): NodeCommands {
  const load = (id: string, options?: { maxAgeMs?: number }) =>
    loader.load(streams.node(id), aggregates.node, options);
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
  const named = namedAggregateCommands(store, loader, {
    scope: 'node',
    stream: streams.node,
    aggregate: aggregates.node,
    create: (nodeId, fields) => ({ ...fields, type: 'RegisterNode', nodeId }) as NodeCommand,
    update: (changes) => ({ type: 'UpdateNode', changes }) as NodeCommand,
    remove: { type: 'DeleteNode' },
  });
  return {
    register: (input, ctx) => named.create(sealed(input), ctx),
    update: (nodeId, changes, ctx) => named.update(nodeId, sealed(changes), ctx),
    delete: named.remove,
    act(nodeId, command, ctx) {
      return execute(store, ctx, nodeId, streams.node(nodeId), async () => {
        const { state, version } = await load(nodeId);
        return [
          {
            streamId: streams.node(nodeId),
            expectedVersion: version,
            events: aggregates.node.decide(command, state),
          },
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
    async get(nodeId, options) {
      const { state } = await load(nodeId, options);
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
