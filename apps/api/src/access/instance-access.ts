import { TianqiError } from '@tianqi/domain';
import { getInstance, type InstanceRow } from '@tianqi/projections';
import type Docker from 'dockerode';
import type { Services } from './services.js';

export interface Viewer {
  userId: string;
  role: 'admin' | 'user';
}

/** An instance the viewer may see: their own, or any for an admin. To others it does not exist. */
export async function visibleInstance(
  services: Services,
  viewer: Viewer,
  instanceId: string,
): Promise<InstanceRow> {
  const row = await getInstance(services.pool, instanceId);
  if (!row || (viewer.role !== 'admin' && row.ownerId !== viewer.userId)) {
    throw new TianqiError('not_found', `no instance ${instanceId}`);
  }
  return row;
}

/** The instance's container and a Docker client for its node, for logs, stats and terminals. */
export async function containerOf(
  services: Services,
  row: InstanceRow,
): Promise<{ docker: Docker; containerId: string }> {
  if (!row.containerId || row.observed === 'removed') {
    throw new TianqiError('conflict', `instance ${row.name} has no container (it is ${row.observed})`);
  }
  const node = await services.commands.nodes.get(row.nodeId);
  if (!node) throw new TianqiError('node_unavailable', `node ${row.nodeName} is gone`);
  return {
    docker: services.streamClients.forNode(node, services.commands.nodes),
    containerId: row.containerId,
  };
}

/** A Docker failure as the platform's vocabulary: the node did not answer, or Docker said no. */
export function dockerFailure(err: unknown, row: InstanceRow): TianqiError {
  if (err instanceof TianqiError) return err;
  const e = err as { statusCode?: number; message?: string; code?: string };
  if (e.statusCode === 404) return new TianqiError('conflict', `the container of ${row.name} is gone`);
  if (e.statusCode !== undefined) {
    return new TianqiError(
      'conflict',
      `Docker on node ${row.nodeName} refused: ${e.message ?? 'unknown error'}`,
    );
  }
  return new TianqiError(
    'node_unavailable',
    `node ${row.nodeName} does not answer (${e.code ?? e.message ?? 'error'})`,
  );
}
