import { type Allocation, cardUse, freeResources, type NodeCapacity } from '@tianqi/domain';
import { foldRows, type Row, rowStamp, snakeChanges } from '../fold-rows.js';
import type { Projection } from '../projection.js';
import type { TableDef } from '../table-def.js';

export const nodesTable: TableDef = {
  name: 'nodes',
  key: ['node_id'],
  columns: {
    node_id: 'text NOT NULL',
    name: 'text NOT NULL',
    region: 'text NOT NULL',
    cpu_cores: 'double precision NOT NULL',
    memory_gb: 'double precision NOT NULL',
    system_disk_gb: 'integer NOT NULL',
    data_disk_gb: 'integer NOT NULL',
    public_ip: 'text',
    private_ip: 'text',
    ssh_port: 'integer NOT NULL',
    ssh_username: 'text NOT NULL',
    // Secrets are never projected: only whether one is set.
    has_ssh_password: 'boolean NOT NULL',
    gpu_model: 'text',
    gpu_count: 'integer NOT NULL',
    vram_gb_per_gpu: 'double precision NOT NULL',
    docker_address: 'text NOT NULL',
    use_tls: 'boolean NOT NULL',
    ca_cert: 'text',
    client_cert: 'text',
    has_client_key: 'boolean NOT NULL',
    hami_core_dir: 'text',
    listed: 'boolean NOT NULL',
    remark: 'text NOT NULL',
    deleted: 'boolean NOT NULL',
    docker_status: 'text NOT NULL',
    docker_status_reason: 'text NOT NULL',
    docker_status_at: 'timestamptz',
    // Whether Docker can limit a container's system disk here (SystemDiskLimitChecked).
    system_disk_limit: 'text NOT NULL',
    system_disk_limit_reason: 'text NOT NULL',
    storage_driver: 'text NOT NULL',
    allocations: 'jsonb NOT NULL',
    // Capacity used and free, recomputed from the allocations on every change.
    instance_count: 'integer NOT NULL',
    cpu_used: 'double precision NOT NULL',
    memory_used_gb: 'double precision NOT NULL',
    system_disk_used_gb: 'double precision NOT NULL',
    data_disk_used_gb: 'double precision NOT NULL',
    gpus_free: 'integer NOT NULL',
    /** Per card: `{ index, wholeBy: instanceId | null, slices: [{ instanceId, vramGb, smPercent }], vramFreeGb }`. */
    gpu_map: 'jsonb NOT NULL',
    ...rowStamp,
  },
  indexes: ['name'],
};

interface NodeRow extends Row {
  allocations: Allocation[];
  cpu_cores: number;
  memory_gb: number;
  system_disk_gb: number;
  data_disk_gb: number;
  gpu_count: number;
  vram_gb_per_gpu: number;
}

/** Node fields whose column is named differently, or is a flag in place of a secret. */
function nodeColumns(fields: Record<string, unknown>): Row {
  const { sshPassword, clientKey, ...rest } = fields;
  const row = snakeChanges(rest);
  if (sshPassword !== undefined) row.has_ssh_password = sshPassword !== null;
  if (clientKey !== undefined) row.has_client_key = clientKey !== null;
  return row;
}

/** The capacity columns, computed by the same domain code the scheduler uses. */
function withCapacity(row: NodeRow): NodeRow {
  const node: Pick<
    NodeCapacity,
    'cpuCores' | 'memoryGb' | 'systemDiskGb' | 'dataDiskGb' | 'gpuCount' | 'allocations'
  > = {
    cpuCores: row.cpu_cores,
    memoryGb: row.memory_gb,
    systemDiskGb: row.system_disk_gb,
    dataDiskGb: row.data_disk_gb,
    gpuCount: row.gpu_count,
    allocations: row.allocations,
  };
  const free = freeResources(node);
  const cards = cardUse(node);
  const vram = row.vram_gb_per_gpu;
  return {
    ...row,
    instance_count: row.allocations.length,
    cpu_used: node.cpuCores - free.cpuCores,
    memory_used_gb: node.memoryGb - free.memoryGb,
    system_disk_used_gb: node.systemDiskGb - free.systemDiskGb,
    data_disk_used_gb: node.dataDiskGb - free.dataDiskGb,
    gpus_free: cards.filter((c) => !c.whole && c.slicedVramGb === 0).length,
    gpu_map: cards.map((card, index) => ({
      index,
      wholeBy:
        row.allocations.find((a) => a.gpus.kind === 'whole' && a.gpus.indices.includes(index))?.instanceId ??
        null,
      slices: row.allocations.flatMap((a) =>
        a.gpus.kind === 'slice' && a.gpus.indices.includes(index)
          ? [{ instanceId: a.instanceId, vramGb: a.gpus.vramGb, smPercent: a.gpus.smPercent }]
          : [],
      ),
      vramFreeGb: card.whole ? 0 : vram - card.slicedVramGb,
    })),
  };
}

export const nodesProjection: Projection = {
  name: 'nodes',
  version: 2,
  tables: [nodesTable],
  apply: (ctx, events) =>
    foldRows<NodeRow>(
      ctx,
      nodesTable,
      'node',
      events,
      (row, e) => {
        switch (e.type) {
          case 'NodeRegistered':
            return {
              ...(nodeColumns(e.data) as NodeRow),
              deleted: false,
              docker_status: 'unknown',
              docker_status_reason: '',
              docker_status_at: null,
              system_disk_limit: 'unknown',
              system_disk_limit_reason: '',
              storage_driver: '',
              allocations: [],
              created_at: e.recordedAt.toISOString(),
            };
          case 'NodeUpdated':
            return row && { ...row, ...nodeColumns(e.data.changes) };
          case 'NodeDeleted':
            return row && { ...row, deleted: true, listed: false };
          case 'NodeDockerStatusChanged':
            return (
              row && {
                ...row,
                docker_status: e.data.status,
                docker_status_reason: e.data.reason,
                docker_status_at: e.recordedAt.toISOString(),
              }
            );
          case 'SystemDiskLimitChecked':
            return (
              row && {
                ...row,
                system_disk_limit: e.data.status,
                system_disk_limit_reason: e.data.reason,
                storage_driver: e.data.storageDriver,
              }
            );
          case 'ResourcesAllocated':
            return row && { ...row, allocations: [...row.allocations, e.data.allocation] };
          case 'ResourcesReleased':
            return (
              row && {
                ...row,
                allocations: row.allocations.filter((a) => a.instanceId !== e.data.instanceId),
              }
            );
          default:
            return row;
        }
      },
      withCapacity,
    ),
};
