import { z } from 'zod';
import { holdsAllocation, withAllocation } from '../scheduling/allocation-list.js';
import { matchNodes } from '../scheduling/match-nodes.js';
import { allocationSchema, specDemandSchema } from '../scheduling/schemas.js';
import type { Allocation, NodeCapacity } from '../scheduling/types.js';
import { changedFields, changesSchema } from '../shared/changes.js';
import { TianqiError } from '../shared/errors.js';
import type { EventsOf } from '../shared/events.js';
import {
  amount,
  displayNameSchema,
  idSchema,
  remarkSchema,
  sealedSecretSchema,
  wholeAmount,
} from '../shared/fields.js';
import { parseOrThrow } from '../shared/parse.js';
import { dockerAddressSchema, isTcpAddress } from './docker-address.js';

const pem = (what: string, label: string) =>
  z
    .string()
    .trim()
    .max(20_000)
    .regex(
      new RegExp(`^-----BEGIN ${label}-----[\\s\\S]+-----END ${label}-----$`),
      `${what} must be PEM text`,
    )
    .nullable()
    .default(null);

const ip = z.union([z.ipv4(), z.ipv6()], { error: 'not an IP address' });

/** The seed's node fields (算力节点) plus the HAMi-core directory. Secrets only ever as sealed text. */
export const nodeShape = {
  name: displayNameSchema,
  region: z.string().trim().max(64).default(''),
  cpuCores: amount('CPU cores', 1, 4096),
  memoryGb: amount('memory', 1, 65_536),
  systemDiskGb: wholeAmount('system disk', 1, 1_048_576),
  dataDiskGb: wholeAmount('data disk', 0, 10_485_760).default(0),
  publicIp: ip.nullable().default(null),
  privateIp: ip.nullable().default(null),
  sshPort: wholeAmount('SSH port', 1, 65_535).default(22),
  sshUsername: z.string().trim().max(64).default(''),
  sshPassword: sealedSecretSchema.nullable().default(null),
  gpuModel: z.string().trim().max(64).nullable().default(null),
  gpuCount: wholeAmount('GPU count', 0, 64).default(0),
  vramGbPerGpu: amount('VRAM per GPU', 0, 1024).default(0),
  dockerAddress: dockerAddressSchema,
  useTls: z.boolean().default(true),
  caCert: pem('the CA certificate', 'CERTIFICATE'),
  clientCert: pem('the client certificate', 'CERTIFICATE'),
  clientKey: sealedSecretSchema.nullable().default(null),
  /** Absolute path of HAMi-core on the node; only nodes with one host GPU slices. */
  hamiCoreDir: z
    .string()
    .trim()
    .regex(/^\/[\w./-]*$/, 'the HAMi-core directory is an absolute path')
    .nullable()
    .default(null),
  listed: z.boolean().default(true),
  remark: remarkSchema,
};
const nodeFieldsSchema = z.object(nodeShape);
export type NodeFields = z.output<typeof nodeFieldsSchema>;

export const dockerStatusSchema = z.enum(['connected', 'failed', 'unknown']);
export type DockerStatus = z.output<typeof dockerStatusSchema>;

/**
 * Whether Docker on the node can limit a container's system disk (the `size` storage option):
 * `enforced` (btrfs, or a create with the limit went through), `unconfirmed` (overlay2 on xfs: only
 * with the `pquota` mount option, which `docker info` does not show; the first create tells),
 * `unsupported` (any other storage driver, or Docker refused the option), `unknown` (not looked at yet).
 */
export const systemDiskLimitSchema = z.enum(['unknown', 'unconfirmed', 'enforced', 'unsupported']);
export type SystemDiskLimit = z.output<typeof systemDiskLimitSchema>;

/** How a node's system disk limit reads to a person: "enforced", "not supported (why)". */
export function describeSystemDiskLimit(status: string, reason: string): string {
  const text =
    { enforced: 'enforced', unsupported: 'not supported', unconfirmed: 'unconfirmed', unknown: 'unknown' }[
      status
    ] ?? status;
  return reason ? `${text} (${reason})` : text;
}

function nodeProblems(n: NodeFields): string[] {
  const problems: string[] = [];
  if (n.gpuCount > 0 && !n.gpuModel) problems.push('gpuModel: a node with GPUs needs its GPU model');
  if (n.gpuCount > 0 && n.vramGbPerGpu <= 0)
    problems.push('vramGbPerGpu: a node with GPUs needs VRAM per card');
  if (n.useTls && isTcpAddress(n.dockerAddress)) {
    if (!n.caCert) problems.push('caCert: TLS needs the CA certificate');
    if (!n.clientCert) problems.push('clientCert: TLS needs the client certificate');
    if (!n.clientKey) problems.push('clientKey: TLS needs the client key');
  }
  return problems;
}

export const nodeCommandSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('RegisterNode'), nodeId: idSchema, ...nodeShape }),
  z.object({
    type: z.literal('UpdateNode'),
    changes: changesSchema(nodeShape),
  }),
  z.object({ type: z.literal('DeleteNode') }),
  /** Platform only: the result of a connection check. */
  z.object({
    type: z.literal('RecordDockerStatus'),
    status: dockerStatusSchema,
    reason: z.string().max(1000).default(''),
  }),
  /** The server's re-check of a chosen candidate, on the node's own stream. */
  z.object({ type: z.literal('AllocateResources'), instanceId: idSchema, spec: specDemandSchema }),
  z.object({ type: z.literal('ReleaseResources'), instanceId: idSchema }),
  /** Platform only: a managed container that no instance owns, seen by the sync (and later gone). */
  z.object({
    type: z.literal('RecordOrphan'),
    containerId: z.string().regex(/^[a-f0-9]{12,64}$/),
    name: z.string().max(255),
    instanceId: z.string().max(64),
  }),
  z.object({ type: z.literal('RecordOrphanGone'), containerId: z.string().regex(/^[a-f0-9]{12,64}$/) }),
  /**
   * Platform only: what `docker info` (`probe`) or a container create (`create`) said about the system
   * disk limit. A probe cannot see pquota, so it never overrides what a create found on the same
   * storage driver, unless an admin asked for the check (`recheck`).
   */
  z.object({
    type: z.literal('RecordSystemDiskLimit'),
    status: systemDiskLimitSchema.exclude(['unknown']),
    storageDriver: z.string().max(200),
    reason: z.string().max(1000).default(''),
    source: z.enum(['probe', 'create']),
    recheck: z.boolean().default(false),
  }),
]);
export type NodeCommand = z.input<typeof nodeCommandSchema>;

export const nodeEventSchemas = {
  NodeRegistered: nodeFieldsSchema.extend({ nodeId: z.string() }),
  NodeUpdated: z.object({ changes: changesSchema(nodeShape) }),
  NodeDeleted: z.object({}),
  NodeDockerStatusChanged: z.object({ status: dockerStatusSchema, reason: z.string() }),
  ResourcesAllocated: z.object({ allocation: allocationSchema }),
  ResourcesReleased: z.object({ instanceId: z.string() }),
  OrphanContainerFound: z.object({ containerId: z.string(), name: z.string(), instanceId: z.string() }),
  OrphanContainerGone: z.object({ containerId: z.string() }),
  SystemDiskLimitChecked: z.object({
    status: systemDiskLimitSchema,
    storageDriver: z.string(),
    reason: z.string(),
    source: z.enum(['probe', 'create']),
  }),
};
export type NodeEvent = EventsOf<typeof nodeEventSchemas>;

export interface NodeState extends NodeFields {
  exists: boolean;
  deleted: boolean;
  nodeId: string;
  dockerStatus: DockerStatus;
  dockerStatusReason: string;
  allocations: Allocation[];
  /** Managed containers on the node that no instance owns, by container id. */
  orphans: string[];
  systemDiskLimit: {
    status: SystemDiskLimit;
    storageDriver: string;
    reason: string;
    source: 'probe' | 'create' | null;
  };
}

export const initialNodeState: NodeState = {
  exists: false,
  deleted: false,
  nodeId: '',
  dockerStatus: 'unknown',
  dockerStatusReason: '',
  allocations: [],
  orphans: [],
  systemDiskLimit: { status: 'unknown', storageDriver: '', reason: '', source: null },
  ...nodeFieldsSchema.parse({
    name: '-',
    cpuCores: 1,
    memoryGb: 1,
    systemDiskGb: 1,
    dockerAddress: 'unix:///var/run/docker.sock',
  }),
};

export function decideNode(input: NodeCommand, state: NodeState): NodeEvent[] {
  const command = parseOrThrow(nodeCommandSchema, input);
  if (command.type === 'RegisterNode') {
    if (state.exists) throw new TianqiError('conflict', `node ${command.nodeId} already exists`);
    const { type: _type, ...data } = command;
    assertConsistent(data);
    return [{ type: 'NodeRegistered', data }];
  }
  if (!state.exists || state.deleted) throw new TianqiError('not_found', 'no such node');
  switch (command.type) {
    case 'UpdateNode': {
      const changes = changedFields<NodeFields>(state, command.changes);
      if (Object.keys(changes).length === 0) return [];
      assertConsistent({ ...state, ...changes });
      return [{ type: 'NodeUpdated', data: { changes } }];
    }
    case 'DeleteNode':
      if (state.allocations.length > 0) {
        throw new TianqiError(
          'conflict',
          `node ${state.name} has ${state.allocations.length} live instance(s); unlist it instead, or delete them first`,
        );
      }
      return [{ type: 'NodeDeleted', data: {} }];
    case 'RecordDockerStatus':
      return command.status === state.dockerStatus && command.reason === state.dockerStatusReason
        ? []
        : [{ type: 'NodeDockerStatusChanged', data: { status: command.status, reason: command.reason } }];
    case 'AllocateResources': {
      if (holdsAllocation(state.allocations, command.instanceId)) {
        throw new TianqiError('conflict', `instance ${command.instanceId} already holds resources here`);
      }
      const { candidates, rejected } = matchNodes([nodeCapacity(state)], command.spec, command.instanceId);
      const chosen = candidates[0];
      if (!chosen) {
        const reasons = rejected[0]?.reasons ?? [];
        const unavailable = !state.listed || state.dockerStatus !== 'connected';
        throw new TianqiError(
          unavailable ? 'node_unavailable' : 'no_capacity',
          `node ${state.name} cannot host this spec: ${reasons.join('; ')}`,
          { nodeId: state.nodeId, reasons },
        );
      }
      return [{ type: 'ResourcesAllocated', data: { allocation: chosen.allocation } }];
    }
    case 'ReleaseResources':
      return holdsAllocation(state.allocations, command.instanceId)
        ? [{ type: 'ResourcesReleased', data: { instanceId: command.instanceId } }]
        : [];
    case 'RecordOrphan':
      return state.orphans.includes(command.containerId)
        ? []
        : [
            {
              type: 'OrphanContainerFound',
              data: { containerId: command.containerId, name: command.name, instanceId: command.instanceId },
            },
          ];
    case 'RecordOrphanGone':
      return state.orphans.includes(command.containerId)
        ? [{ type: 'OrphanContainerGone', data: { containerId: command.containerId } }]
        : [];
    case 'RecordSystemDiskLimit': {
      const now = state.systemDiskLimit;
      const { status, storageDriver, reason, source } = command;
      const createKnowsBetter =
        source === 'probe' &&
        !command.recheck &&
        now.source === 'create' &&
        now.storageDriver === storageDriver;
      if (createKnowsBetter || (now.status === status && now.storageDriver === storageDriver)) return [];
      return [{ type: 'SystemDiskLimitChecked', data: { status, storageDriver, reason, source } }];
    }
  }
}

function assertConsistent(fields: NodeFields): void {
  const problems = nodeProblems(fields);
  if (problems.length > 0) throw new TianqiError('validation', problems.join('; '));
}

export function evolveNode(state: NodeState, event: NodeEvent): NodeState {
  switch (event.type) {
    case 'NodeRegistered':
      return { ...state, exists: true, ...event.data };
    case 'NodeUpdated':
      return { ...state, ...event.data.changes };
    case 'NodeDeleted':
      return { ...state, deleted: true, listed: false };
    case 'NodeDockerStatusChanged':
      return { ...state, dockerStatus: event.data.status, dockerStatusReason: event.data.reason };
    case 'ResourcesAllocated':
      return { ...state, allocations: withAllocation(state.allocations, event.data.allocation) };
    case 'ResourcesReleased':
      return {
        ...state,
        allocations: state.allocations.filter((a) => a.instanceId !== event.data.instanceId),
      };
    case 'OrphanContainerFound':
      return { ...state, orphans: [...state.orphans, event.data.containerId] };
    case 'OrphanContainerGone':
      return { ...state, orphans: state.orphans.filter((c) => c !== event.data.containerId) };
    case 'SystemDiskLimitChecked':
      return { ...state, systemDiskLimit: { ...event.data } };
  }
}

/** The node as the scheduler sees it. */
export function nodeCapacity(state: NodeState): NodeCapacity {
  return {
    nodeId: state.nodeId,
    name: state.name,
    region: state.region,
    listed: state.listed && !state.deleted,
    dockerStatus: state.dockerStatus,
    cpuCores: state.cpuCores,
    memoryGb: state.memoryGb,
    systemDiskGb: state.systemDiskGb,
    dataDiskGb: state.dataDiskGb,
    gpuModel: state.gpuModel,
    gpuCount: state.gpuCount,
    vramGbPerGpu: state.vramGbPerGpu,
    hamiCoreDir: state.hamiCoreDir,
    allocations: state.allocations,
  };
}
