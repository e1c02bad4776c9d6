import { foldRows, type Row, rowStamp } from '../fold-rows.js';
import type { Projection } from '../projection.js';
import type { TableDef } from '../table-def.js';

export const instancesTable: TableDef = {
  name: 'instances',
  key: ['instance_id'],
  columns: {
    instance_id: 'text NOT NULL',
    name: 'text NOT NULL',
    owner_id: 'text NOT NULL',
    node_id: 'text NOT NULL',
    node_name: 'text NOT NULL',
    image_id: 'text NOT NULL',
    image_name: 'text NOT NULL',
    image_address: 'text NOT NULL',
    spec_id: 'text NOT NULL',
    spec_name: 'text NOT NULL',
    /** The spec as it was at creation (what the instance runs with and is billed at). */
    spec: 'jsonb NOT NULL',
    allocation: 'jsonb NOT NULL',
    allocation_held: 'boolean NOT NULL',
    desired: 'text NOT NULL',
    observed: 'text NOT NULL',
    container_id: 'text',
    container_name: 'text',
    exit_code: 'integer',
    oom_killed: 'boolean NOT NULL',
    failure: 'jsonb',
    /** What the reconciler keeps failing on: { reason, since, retryAt } (null once a pass gets through). */
    reconcile_error: 'jsonb',
    restarts: 'integer NOT NULL',
    restarts_done: 'integer NOT NULL',
    remark: 'text NOT NULL',
    ...rowStamp,
  },
  // Lists page newest first: these let a page of 50 be read from an index, not sorted from all rows.
  indexes: [
    'created_at DESC, instance_id',
    'owner_id, created_at DESC, instance_id',
    'node_id',
    'desired, observed',
    'name',
  ],
};

export const instancesProjection: Projection = {
  name: 'instances',
  version: 4,
  tables: [instancesTable],
  apply: (ctx, events) =>
    foldRows<Row>(ctx, instancesTable, 'instance', events, (row, e) => {
      if (e.type === 'InstanceCreated') {
        const d = e.data;
        return {
          instance_id: d.instanceId,
          name: d.name,
          owner_id: d.ownerId,
          node_id: d.node.nodeId,
          node_name: d.node.name,
          image_id: d.image.imageId,
          image_name: d.image.name,
          image_address: d.image.address,
          spec_id: d.spec.specId,
          spec_name: d.spec.name,
          spec: d.spec,
          allocation: d.allocation,
          allocation_held: true,
          desired: 'running',
          observed: 'creating',
          container_id: null,
          container_name: null,
          exit_code: null,
          oom_killed: false,
          failure: null,
          reconcile_error: null,
          restarts: 0,
          restarts_done: 0,
          remark: d.remark,
          created_at: e.recordedAt.toISOString(),
        };
      }
      if (!row) return row;
      switch (e.type) {
        case 'InstanceStartRequested':
          return { ...row, desired: 'running' };
        case 'InstanceStopRequested':
          return { ...row, desired: 'stopped' };
        case 'InstanceRestartRequested':
          return { ...row, desired: 'running', restarts: e.data.restart };
        case 'InstanceDeleteRequested':
          return { ...row, desired: 'deleted' };
        case 'ContainerCreated':
          return {
            ...row,
            observed: 'creating',
            container_id: e.data.containerId,
            container_name: e.data.containerName,
          };
        case 'ContainerStarted':
          return { ...row, observed: 'running', failure: null, exit_code: null, oom_killed: false };
        case 'ContainerRestarted':
          return { ...row, observed: 'running', failure: null, restarts_done: e.data.restart };
        case 'ContainerExited':
          return { ...row, observed: 'exited', exit_code: e.data.exitCode, oom_killed: e.data.oomKilled };
        case 'InstanceFailed':
          return { ...row, observed: 'failed', failure: e.data };
        case 'ContainerRemoved':
          return { ...row, observed: 'removed' };
        case 'ReconcileFailed':
          return {
            ...row,
            reconcile_error: {
              reason: e.data.reason,
              since: e.recordedAt.toISOString(),
              retryAt: e.data.retryAt,
            },
          };
        case 'ReconcileRecovered':
          return { ...row, reconcile_error: null };
        case 'ContainerDiscarded':
          return { ...row, observed: 'creating', container_id: null, container_name: null };
        case 'InstanceObservedUnknown':
          return { ...row, observed: 'unknown' };
        case 'AllocationReleased':
          return { ...row, allocation_held: false };
        default:
          return row;
      }
    }),
};
