import type { PlatformStore } from '@tianqi/projections';
import type pg from 'pg';
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

/** The nodes the scheduler considers: the nodes read model's live ones (each re-read from its stream). */
export async function nodeIdsFromReadModel(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ node_id: string }>('SELECT node_id FROM rm.nodes WHERE NOT deleted');
  return rows.map((r) => r.node_id);
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
      nodeIds: options.nodeIds ?? (() => nodeIdsFromReadModel(store.pool)),
    }),
  };
}
