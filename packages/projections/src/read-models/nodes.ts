import { type Allocation, cardUse, type GpuAllocation } from '@tianqi/domain';
import { foldRows, type Row, rowStamp, snakeChanges } from '../fold-rows.js';
import type { Projection } from '../projection.js';
import { RowSet } from '../row-set.js';
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
    // Capacity used: running totals of the node's allocations (each a row of node_allocations), kept
    // as they come and go, so a create writes one small row here, not the node's every allocation.
    instance_count: 'integer NOT NULL',
    cpu_used: 'double precision NOT NULL',
    memory_used_gb: 'double precision NOT NULL',
    system_disk_used_gb: 'double precision NOT NULL',
    data_disk_used_gb: 'double precision NOT NULL',
    gpus_free: 'integer NOT NULL',
    /** Per card: `{ index, wholeBy: instanceId | null, slices: [{ instanceId, vramGb, smPercent }], vramFreeGb }`. */
    gpu_map: 'jsonb NOT NULL',
    /**
     * The allocations that hold GPUs, `[{ instanceId, gpus }]`, in allocation order: what the map is
     * drawn from. At most a few per card, however many CPU-only instances the node holds.
     */
    gpu_holders: 'jsonb NOT NULL',
    ...rowStamp,
  },
  indexes: ['name'],
};

/** Every live allocation, one row each: what an instance holds on its node. */
export const nodeAllocationsTable: TableDef = {
  name: 'node_allocations',
  key: ['instance_id'],
  columns: {
    instance_id: 'text NOT NULL',
    node_id: 'text NOT NULL',
    cpu_cores: 'double precision NOT NULL',
    memory_gb: 'double precision NOT NULL',
    system_disk_gb: 'double precision NOT NULL',
    data_disk_gb: 'double precision NOT NULL',
    /** `{ kind: 'none' }`, `{ kind: 'whole', indices }` or `{ kind: 'slice', indices, vramGb, smPercent }`. */
    gpus: 'jsonb NOT NULL',
    allocated_at: 'timestamptz NOT NULL',
  },
  indexes: ['node_id'],
};

interface GpuHolder {
  instanceId: string;
  gpus: Exclude<GpuAllocation, { kind: 'none' }>;
}

interface NodeRow extends Row {
  cpu_cores: number;
  memory_gb: number;
  system_disk_gb: number;
  data_disk_gb: number;
  gpu_count: number;
  vram_gb_per_gpu: number;
  instance_count: number;
  cpu_used: number;
  memory_used_gb: number;
  system_disk_used_gb: number;
  data_disk_used_gb: number;
  gpu_holders: GpuHolder[];
}

interface AllocationRow extends Row {
  instance_id: string;
  node_id: string;
  cpu_cores: number;
  memory_gb: number;
  system_disk_gb: number;
  data_disk_gb: number;
  gpus: GpuAllocation;
}

/** Node fields whose column is named differently, or is a flag in place of a secret. */
function nodeColumns(fields: Record<string, unknown>): Row {
  const { sshPassword, clientKey, ...rest } = fields;
  const row = snakeChanges(rest);
  if (sshPassword !== undefined) row.has_ssh_password = sshPassword !== null;
  if (clientKey !== undefined) row.has_client_key = clientKey !== null;
  return row;
}

/**
 * The totals with an allocation added (sign 1) or taken away (-1). Rounded to a millionth: sums of
 * fractions such as 0.1 core would otherwise drift from 0 after many comings and goings.
 */
function withAllocation(row: NodeRow, a: AllocationRow, sign: 1 | -1): NodeRow {
  const add = (total: number, x: number) => Math.round((total + sign * x) * 1e6) / 1e6;
  const gpus = a.gpus;
  return {
    ...row,
    instance_count: row.instance_count + sign,
    cpu_used: add(row.cpu_used, a.cpu_cores),
    memory_used_gb: add(row.memory_used_gb, a.memory_gb),
    system_disk_used_gb: add(row.system_disk_used_gb, a.system_disk_gb),
    data_disk_used_gb: add(row.data_disk_used_gb, a.data_disk_gb),
    gpu_holders:
      gpus.kind === 'none'
        ? row.gpu_holders
        : sign === 1
          ? [...row.gpu_holders, { instanceId: a.instance_id, gpus }]
          : row.gpu_holders.filter((h) => h.instanceId !== a.instance_id),
  };
}

/** The per-card map and free cards, from the GPU holders by the same domain code the scheduler uses. */
function withGpuMap(row: NodeRow): NodeRow {
  const holders = row.gpu_holders;
  const cards = cardUse({ gpuCount: row.gpu_count, allocations: holders as unknown as Allocation[] });
  const vram = row.vram_gb_per_gpu;
  return {
    ...row,
    gpus_free: cards.filter((c) => !c.whole && c.slicedVramGb === 0).length,
    gpu_map: cards.map((card, index) => ({
      index,
      wholeBy:
        holders.find((h) => h.gpus.kind === 'whole' && h.gpus.indices.includes(index))?.instanceId ?? null,
      slices: holders.flatMap((h) =>
        h.gpus.kind === 'slice' && h.gpus.indices.includes(index)
          ? [{ instanceId: h.instanceId, vramGb: h.gpus.vramGb, smPercent: h.gpus.smPercent }]
          : [],
      ),
      vramFreeGb: card.whole ? 0 : vram - card.slicedVramGb,
    })),
  };
}

const allocationRow = (nodeId: string, a: Allocation, at: Date): AllocationRow => ({
  instance_id: a.instanceId,
  node_id: nodeId,
  cpu_cores: a.cpuCores,
  memory_gb: a.memoryGb,
  system_disk_gb: a.systemDiskGb,
  data_disk_gb: a.dataDiskGb,
  gpus: a.gpus,
  allocated_at: at.toISOString(),
});

export const nodesProjection: Projection = {
  name: 'nodes',
  // 3: allocations in rows of their own (node_allocations), running totals on the node's row.
  version: 3,
  tables: [nodesTable, nodeAllocationsTable],
  async apply(ctx, events) {
    const allocations = new RowSet<AllocationRow>(ctx, nodeAllocationsTable);
    // A release takes away what its allocation row says it held.
    await allocations.load(
      events.flatMap((e) => (e.type === 'ResourcesReleased' ? [e.data.instanceId] : [])),
    );
    await foldRows<NodeRow>(
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
              instance_count: 0,
              cpu_used: 0,
              memory_used_gb: 0,
              system_disk_used_gb: 0,
              data_disk_used_gb: 0,
              gpu_holders: [],
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
          case 'ResourcesAllocated': {
            if (!row) return row;
            const a = allocationRow(row.node_id as string, e.data.allocation, e.recordedAt);
            allocations.set(a.instance_id, a);
            return withAllocation(row, a, 1);
          }
          case 'ResourcesReleased': {
            const a = allocations.get(e.data.instanceId);
            if (!row || !a || a.node_id !== row.node_id) return row;
            allocations.delete(a.instance_id);
            return withAllocation(row, a, -1);
          }
          default:
            return row;
        }
      },
      withGpuMap,
    );
    await allocations.flush();
  },
};
