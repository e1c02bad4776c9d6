import { liveNodeIds, type PlatformStore } from '@tianqi/projections';
import type { SecretBox } from '../security/secrets.js';
import { AggregateLoader } from './aggregates.js';
import { type CatalogCommands, catalogCommands } from './catalog.js';
import { type InstanceCommands, instanceCommands } from './instances.js';
import { type NodeCommands, nodeCommands } from './nodes.js';
import { type UserCommands, userCommands } from './users.js';

export type { CatalogCommands } from './catalog.js';
export * from './context.js';
export * from './execute.js';
export type { CreatedInstance, CreateInstanceInput, InstanceCommands, Observation } from './instances.js';
export type { NodeCommands, NodeInput } from './nodes.js';
export { ensureAdmin, type UserCommands, type UserView } from './users.js';

export interface Commands {
  users: UserCommands;
  catalog: CatalogCommands;
  nodes: NodeCommands;
  instances: InstanceCommands;
}

export function createCommands(
  store: PlatformStore,
  secrets: SecretBox,
  options: { nodeIds?: () => Promise<string[]> } = {},
): Commands {
  const loader = new AggregateLoader(store);
  return {
    users: userCommands(store, loader),
    catalog: catalogCommands(store, loader),
    nodes: nodeCommands(store, loader, secrets),
    instances: instanceCommands(store, loader, {
      // The nodes the scheduler considers: the read model's live ones (each re-read from its stream).
      nodeIds: options.nodeIds ?? (() => liveNodeIds(store.pool)),
    }),
  };
}
