import { z } from 'zod';

/**
 * What each procedure answers. Objects strip keys they do not name, so a column added to a read model
 * (or a secret that should never be there) cannot reach a client unless it is listed here.
 */
const date = z.date();
const num = z.coerce.number();

export const commandResultView = z.object({ id: z.string(), version: z.number().int() });

export const sshKeyView = z.object({
  algorithm: z.string(),
  fingerprint: z.string(),
  comment: z.string(),
});

export const userView = z.object({
  userId: z.string(),
  username: z.string(),
  role: z.enum(['admin', 'user']),
  disabled: z.boolean(),
  sshKeys: z.array(sshKeyView),
  /** Instances the user has now (admins' list only; deleted ones whose container is gone not counted). */
  instanceCount: z.number().int(),
  createdAt: date,
  updatedAt: date,
});

export const meView = z.object({
  userId: z.string(),
  username: z.string(),
  role: z.enum(['admin', 'user']),
  expiresAt: date,
});

export const setupStatusView = z.object({ needsSetup: z.boolean() });

export const imageView = z.object({
  imageId: z.string(),
  name: z.string(),
  address: z.string(),
  description: z.string(),
  source: z.string(),
  listed: z.boolean(),
  supportsSlicing: z.boolean(),
  remark: z.string(),
  createdAt: date,
  updatedAt: date,
});

export const specView = z.object({
  specId: z.string(),
  name: z.string(),
  gpuModel: z.string().nullable(),
  gpuCount: z.number().int(),
  vramGb: num,
  slice: z.boolean(),
  cpuCores: num,
  memoryGb: num,
  systemDiskGb: z.number().int(),
  dataDiskGb: z.number().int(),
  pricePerHour: num,
  listed: z.boolean(),
  remark: z.string(),
  createdAt: date,
  updatedAt: date,
});

const gpuCardView = z.object({
  index: z.number().int(),
  wholeBy: z.string().nullable(),
  slices: z.array(z.object({ instanceId: z.string(), vramGb: num, smPercent: num })),
  vramFreeGb: num,
});

/** A node as admins see it: whether a password or key is set, never the secret itself. */
export const nodeView = z.object({
  nodeId: z.string(),
  name: z.string(),
  region: z.string(),
  cpuCores: num,
  memoryGb: num,
  systemDiskGb: z.number().int(),
  dataDiskGb: z.number().int(),
  publicIp: z.string().nullable(),
  privateIp: z.string().nullable(),
  sshPort: z.number().int(),
  sshUsername: z.string(),
  hasSshPassword: z.boolean(),
  gpuModel: z.string().nullable(),
  gpuCount: z.number().int(),
  vramGbPerGpu: num,
  dockerAddress: z.string(),
  useTls: z.boolean(),
  caCert: z.string().nullable(),
  clientCert: z.string().nullable(),
  hasClientKey: z.boolean(),
  hamiCoreDir: z.string().nullable(),
  listed: z.boolean(),
  remark: z.string(),
  dockerStatus: z.string(),
  dockerStatusReason: z.string(),
  dockerStatusAt: date.nullable(),
  /** Whether Docker limits containers' system disks here: enforced, unconfirmed, unsupported, unknown. */
  systemDiskLimit: z.string(),
  systemDiskLimitReason: z.string(),
  storageDriver: z.string(),
  instanceCount: z.number().int(),
  cpuUsed: num,
  memoryUsedGb: num,
  gpusFree: z.number().int(),
  gpuMap: z.array(gpuCardView),
  createdAt: date,
  updatedAt: date,
});

/** What a user may know of a node that could host their spec: no addresses, no credentials. */
export const candidateView = z.object({
  nodeId: z.string(),
  name: z.string(),
  region: z.string(),
  gpuModel: z.string().nullable(),
  freeGpus: z.number().int(),
});

export const availableNodesView = z.object({
  candidates: z.array(candidateView),
  /** Admins only: the nodes that cannot, and why. */
  rejected: z
    .array(z.object({ nodeId: z.string(), name: z.string(), reasons: z.array(z.string()) }))
    .optional(),
});

export const instanceView = z.object({
  instanceId: z.string(),
  name: z.string(),
  ownerId: z.string(),
  nodeId: z.string(),
  nodeName: z.string(),
  imageId: z.string(),
  imageName: z.string(),
  imageAddress: z.string(),
  specId: z.string(),
  specName: z.string(),
  spec: z.record(z.string(), z.unknown()),
  allocation: z.record(z.string(), z.unknown()),
  allocationHeld: z.boolean(),
  desired: z.string(),
  observed: z.string(),
  containerId: z.string().nullable(),
  containerName: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  oomKilled: z.boolean(),
  failure: z.object({ phase: z.string(), reason: z.string() }).nullable(),
  /**
   * The error the platform keeps meeting while it tries to reach what is asked, since when, and when
   * it tries again (with the attempts so far in `instances.get`; lists carry the first retry's time).
   */
  reconcileError: z
    .object({
      reason: z.string(),
      since: z.string(),
      retryAt: z.string(),
      attempts: z.number().int().optional(),
    })
    .nullable(),
  remark: z.string(),
  createdAt: date,
  updatedAt: date,
  version: z.number().int(),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    total: z.number().int(),
    limit: z.number().int(),
    offset: z.number().int(),
  });

export const auditEntryView = z.object({
  position: num,
  streamId: z.string(),
  streamVersion: z.number().int(),
  type: z.string(),
  actorUserId: z.string().nullable(),
  actorName: z.string().nullable(),
  actorIp: z.string().nullable(),
  commandId: z.string().nullable(),
  correlationId: z.string().nullable(),
  recordedAt: date,
  instanceId: z.string().nullable(),
  summary: z.string(),
});

export const driftView = z.object({
  driftId: z.string(),
  subject: z.string(),
  instanceId: z.string().nullable(),
  nodeId: z.string().nullable(),
  containerId: z.string().nullable(),
  kind: z.string(),
  detail: z.string(),
  open: z.boolean(),
  detectedAt: date,
  resolvedAt: date.nullable(),
});

export const sampleView = z.object({
  at: z.number(),
  cpuPercent: z.number().nullable(),
  memoryUsedBytes: z.number(),
  memoryLimitBytes: z.number(),
  memoryPercent: z.number(),
  networkRxBytes: z.number(),
  networkTxBytes: z.number(),
  blockReadBytes: z.number(),
  blockWriteBytes: z.number(),
  pids: z.number(),
  gpuMemoryUsedMb: z.number().nullable(),
  gpuMemoryTotalMb: z.number().nullable(),
  dataDiskUsedBytes: z.number().nullable(),
  systemDiskUsedBytes: z.number().nullable(),
});

export const logLineView = z.object({
  stream: z.enum(['stdout', 'stderr']),
  /** RFC 3339 with nanoseconds, as Docker stamps it (null when not asked for). */
  time: z.string().nullable(),
  text: z.string(),
});

export const instanceUsageView = z.object({
  instanceId: z.string(),
  instanceName: z.string().nullable(),
  ownerId: z.string(),
  ownerName: z.string().nullable(),
  pricePerHour: z.number(),
  seconds: z.number(),
  cost: z.number(),
});

export const userUsageView = z.object({
  ownerId: z.string(),
  ownerName: z.string().nullable(),
  seconds: z.number(),
  cost: z.number(),
  instances: z.number().int(),
});

export const dayUsageView = z.object({
  day: z.string(),
  seconds: z.number(),
  cost: z.number(),
  instances: z.number().int(),
});

/** A recorded session in the admins' list across instances. */
export const recordingEntryView = z.object({
  recordingId: z.string(),
  instanceId: z.string(),
  instanceName: z.string().nullable(),
  userId: z.string(),
  username: z.string().nullable(),
  via: z.string(),
  startedAt: date,
  endedAt: date,
  bytes: z.number().int(),
  truncated: z.boolean(),
});

/**
 * A read-model query's loosely typed rows as the view's input type: the procedure's output validator
 * checks every row at run time (and strips what the view does not name) before anything is sent.
 */
export function checkedRows<S extends z.ZodType>(_view: S, rows: Promise<unknown>): Promise<z.input<S>> {
  return rows as Promise<z.input<S>>;
}
