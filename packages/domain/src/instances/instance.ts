import { z } from 'zod';
import { allocationSchema, specDemandSchema } from '../scheduling/schemas.js';
import type { Allocation } from '../scheduling/types.js';
import { TianqiError } from '../shared/errors.js';
import type { EventsOf } from '../shared/events.js';
import { idSchema, remarkSchema } from '../shared/fields.js';
import { parseOrThrow } from '../shared/parse.js';
import {
  type DataDiskUsage,
  dataDiskDecision,
  dataDiskPolicySchema,
  dataDiskUsageSchema,
  gb,
} from './data-disk.js';

/**
 * Set by the server for a user's start under the `stop` data-disk policy: an instance whose `/data`
 * was over its size at the last sync would only be stopped again, so the start is refused (an
 * admin's start goes through, e.g. to let the owner make room within a new grace).
 */
const refuseOverDataDisk = z.boolean().default(false);

/** 实例名称: letters, digits, `-` and `_`, 1–63 characters (it becomes part of the container name). */
export const instanceNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]{1,63}$/,
    'an instance name is 1–63 letters, digits, "-" or "_" (no spaces, no Chinese)',
  );

export type DesiredState = 'running' | 'stopped' | 'deleted';
/** What Docker was last seen to report: kept apart from what was asked for. */
export const observedStateSchema = z.enum(['creating', 'running', 'exited', 'failed', 'removed', 'unknown']);
export type ObservedState = z.output<typeof observedStateSchema>;

/**
 * What an instance was made from, copied at creation: a later edit of the spec, image or node never
 * changes a running instance, its bill or its history.
 */
export const instanceOriginSchema = z.object({
  image: z.object({ imageId: z.string(), name: z.string(), address: z.string() }),
  spec: specDemandSchema.extend({ specId: z.string(), name: z.string(), pricePerHour: z.number().min(0) }),
  node: z.object({ nodeId: z.string(), name: z.string() }),
});

const failurePhase = z.enum(['create', 'start', 'stop', 'restart', 'delete']);

/**
 * Drift the sync can see on an instance: it should run but its container exited; it should be stopped
 * but runs; its container is gone; its container is on another node than recorded.
 */
export const driftKindSchema = z.enum(['exited', 'running', 'missing', 'wrong_node']);
export type DriftKind = z.output<typeof driftKindSchema>;

export const instanceCommandSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('CreateInstance'),
    instanceId: idSchema,
    name: instanceNameSchema,
    /** Always the caller, set by the server, never taken from the client. */
    ownerId: idSchema,
    remark: remarkSchema,
    ...instanceOriginSchema.shape,
    /** What the node's stream granted, in the same append. */
    allocation: allocationSchema,
  }),
  z.object({ type: z.literal('StartInstance'), refuseOverDataDisk }),
  z.object({ type: z.literal('StopInstance') }),
  z.object({ type: z.literal('RestartInstance'), refuseOverDataDisk }),
  z.object({ type: z.literal('DeleteInstance') }),
  // What the platform observed, recorded by the reconciler and the sync.
  z.object({
    type: z.literal('RecordContainerCreated'),
    containerId: z.string().regex(/^[a-f0-9]{12,64}$/, 'not a container id'),
    containerName: z.string().min(1).max(255),
  }),
  z.object({ type: z.literal('RecordContainerStarted') }),
  z.object({ type: z.literal('RecordContainerRestarted'), restart: z.number().int().min(1) }),
  z.object({
    type: z.literal('RecordContainerExited'),
    exitCode: z.number().int().nullable(),
    oomKilled: z.boolean().default(false),
  }),
  z.object({
    type: z.literal('RecordInstanceFailed'),
    phase: failurePhase,
    reason: z.string().min(1).max(2000),
  }),
  z.object({ type: z.literal('RecordContainerRemoved') }),
  /**
   * A reconciler pass failed and will be tried again (Docker unreachable, or it answered an error
   * that may pass): recorded on the first failure and when the error changes, not on every retry.
   */
  z.object({
    type: z.literal('RecordReconcileFailed'),
    reason: z.string().min(1).max(2000),
    retryAt: z.iso.datetime(),
  }),
  /** A pass got through after failures. */
  z.object({ type: z.literal('RecordReconcileRecovered') }),
  /**
   * The reconciler removed a container that never ran because Docker could not start it (a stale
   * task left by a daemon crash), so that a new one is made.
   */
  z.object({
    type: z.literal('RecordContainerDiscarded'),
    containerId: z.string().regex(/^[a-f0-9]{12,64}$/, 'not a container id'),
    reason: z.string().min(1).max(2000),
  }),
  z.object({ type: z.literal('RecordVolumesRemoved'), volumes: z.array(z.string().max(255)).max(100) }),
  z.object({ type: z.literal('RecordObservedUnknown'), reason: z.string().max(2000) }),
  /** The sync saw Docker differ from what is asked (or saw it agree again). */
  z.object({ type: z.literal('RecordDrift'), kind: driftKindSchema, detail: z.string().max(1000) }),
  z.object({ type: z.literal('RecordDriftResolved'), kind: driftKindSchema }),
  /** The sync measured `/data` (Docker's disk-usage answer) against the spec's data disk. */
  z.object({
    type: z.literal('RecordDataDiskUsage'),
    ...dataDiskUsageSchema.shape,
    policy: dataDiskPolicySchema,
  }),
  /**
   * Someone had a shell in the container (web terminal, CLI or SSH), or ran one command in it through
   * SSH (`ssh user+inst@host 'cmd'`, scp, rsync): who, from where, when, how long, and what.
   */
  z.object({
    type: z.literal('RecordTerminalSession'),
    sessionId: z.string().min(1).max(64),
    userId: z.string().min(1).max(64),
    via: z.enum(['web', 'cli', 'ssh']),
    ip: z.string().max(64).nullable(),
    startedAt: z.iso.datetime(),
    endedAt: z.iso.datetime(),
    /** A recording of what was shown, when one was kept (its id). */
    recordingId: z.string().max(64).nullable().default(null),
    /** The command line of a one-command session (cut to 4,096 characters); null for a shell. */
    command: z.string().max(4096).nullable().default(null),
    /** How it ended, when known (null: still running when the client went, or a shell cut off). */
    exitCode: z.number().int().nullable().default(null),
  }),
]);
export type InstanceCommand = z.input<typeof instanceCommandSchema>;

export const instanceEventSchemas = {
  InstanceCreated: instanceOriginSchema.extend({
    instanceId: z.string(),
    name: z.string(),
    ownerId: z.string(),
    remark: z.string(),
    allocation: allocationSchema,
  }),
  InstanceStartRequested: z.object({}),
  /** `reason`: why the platform itself stopped it (null: someone asked). */
  InstanceStopRequested: z.object({ reason: z.string().nullable().default(null) }),
  InstanceRestartRequested: z.object({ restart: z.number().int() }),
  InstanceDeleteRequested: z.object({}),
  ContainerCreated: z.object({ containerId: z.string(), containerName: z.string() }),
  ContainerStarted: z.object({}),
  ContainerRestarted: z.object({ restart: z.number().int() }),
  ContainerExited: z.object({ exitCode: z.number().int().nullable(), oomKilled: z.boolean() }),
  InstanceFailed: z.object({ phase: failurePhase, reason: z.string() }),
  ContainerRemoved: z.object({}),
  /** The platform keeps failing to bring it to what is asked; `retryAt`: its first next attempt. */
  ReconcileFailed: z.object({ reason: z.string(), retryAt: z.string() }),
  ReconcileRecovered: z.object({}),
  ContainerDiscarded: z.object({ containerId: z.string(), reason: z.string() }),
  VolumesRemoved: z.object({ volumes: z.array(z.string()) }),
  InstanceObservedUnknown: z.object({ reason: z.string() }),
  /** The node's resources went back (the node's stream records the same in the same append). */
  AllocationReleased: z.object({ nodeId: z.string() }),
  DriftDetected: z.object({ kind: driftKindSchema, detail: z.string() }),
  DriftResolved: z.object({ kind: driftKindSchema }),
  /** The owner's warning: `/data` holds more than the spec's data disk; `policy` says what follows. */
  DataDiskOverLimit: dataDiskUsageSchema.extend({ policy: dataDiskPolicySchema }),
  DataDiskBackUnderLimit: dataDiskUsageSchema,
  TerminalSessionEnded: z.object({
    sessionId: z.string(),
    userId: z.string(),
    via: z.enum(['web', 'cli', 'ssh']),
    ip: z.string().nullable(),
    startedAt: z.string(),
    endedAt: z.string(),
    seconds: z.number(),
    recordingId: z.string().nullable(),
    // Sessions recorded before these existed read as shells with no exit code known.
    command: z.string().nullable().default(null),
    exitCode: z.number().int().nullable().default(null),
  }),
};
export type InstanceEvent = EventsOf<typeof instanceEventSchemas>;
export type InstanceCreatedData = z.output<typeof instanceEventSchemas.InstanceCreated>;

export interface InstanceState {
  exists: boolean;
  instanceId: string;
  name: string;
  ownerId: string;
  nodeId: string;
  desired: DesiredState;
  observed: ObservedState;
  containerId: string | null;
  /** Containers removed unstarted (Docker could not start them) since the last start: bounds recreation. */
  containersDiscarded: number;
  /** A container was made for it at some point (one discarded since leaves containerId null). */
  hadContainer: boolean;
  /** Restarts asked for, and the last one the platform carried out: it acts once per request. */
  restarts: number;
  restartsDone: number;
  failure: { phase: z.output<typeof failurePhase>; reason: string } | null;
  /** Creation failed for good: nothing to start, only to delete. */
  creationFailed: boolean;
  allocation: Allocation | null;
  allocationHeld: boolean;
  /** The image, spec and node it was made from: what its container is built from. */
  origin: z.output<typeof instanceOriginSchema> | null;
  volumesRemoved: boolean;
  /** Drift seen and not yet resolved. */
  drifts: DriftKind[];
  /** `/data` was over the spec's data disk at the last sync, and the owner was warned since the last start. */
  dataDiskOver: DataDiskUsage | null;
  /** The error the reconciler keeps meeting, until a pass gets through. */
  reconcileError: string | null;
}

export const initialInstanceState: InstanceState = {
  exists: false,
  instanceId: '',
  name: '',
  ownerId: '',
  nodeId: '',
  desired: 'stopped',
  observed: 'unknown',
  containerId: null,
  containersDiscarded: 0,
  hadContainer: false,
  restarts: 0,
  restartsDone: 0,
  failure: null,
  creationFailed: false,
  allocation: null,
  allocationHeld: false,
  origin: null,
  volumesRemoved: false,
  drifts: [],
  dataDiskOver: null,
  reconcileError: null,
};

/** decide(command, state) → events: the rules a user expects, no I/O. */
export function decideInstance(input: InstanceCommand, state: InstanceState): InstanceEvent[] {
  const command = parseOrThrow(instanceCommandSchema, input);
  if (command.type === 'CreateInstance') {
    if (state.exists) throw new TianqiError('conflict', `instance ${command.instanceId} already exists`);
    if (command.allocation.instanceId !== command.instanceId) {
      throw new TianqiError('validation', 'the allocation belongs to another instance');
    }
    const { type: _type, ...data } = command;
    return [{ type: 'InstanceCreated', data }];
  }
  if (!state.exists) throw new TianqiError('not_found', 'no such instance');
  const events = command.type.startsWith('Record') ? record(command, state) : request(command, state);
  return withRelease(state, events);
}

type Command = z.output<typeof instanceCommandSchema>;

/** What a user asks for. */
function request(command: Command, state: InstanceState): InstanceEvent[] {
  if (state.desired === 'deleted') throw new TianqiError('conflict', `instance ${state.name} is deleted`);
  const failedForGood = () =>
    new TianqiError(
      'conflict',
      `instance ${state.name} could not be created (${state.failure?.reason ?? 'unknown reason'}); delete it and create a new one`,
    );
  const overDataDisk = () => {
    const over = state.dataDiskOver;
    if (!over || state.desired === 'running') return;
    if ('refuseOverDataDisk' in command && command.refuseOverDataDisk) {
      throw new TianqiError(
        'conflict',
        `instance ${state.name} cannot start: its /data held ${gb(over.usedBytes)} at the last sync, over the ${gb(over.limitBytes)} of its spec, so it would be stopped again; an admin can start it once to let you make room`,
      );
    }
  };
  switch (command.type) {
    case 'StartInstance':
      if (state.creationFailed) throw failedForGood();
      overDataDisk();
      return state.desired === 'running' ? [] : [{ type: 'InstanceStartRequested', data: {} }];
    case 'StopInstance':
      return state.desired === 'stopped' ? [] : [{ type: 'InstanceStopRequested', data: { reason: null } }];
    case 'RestartInstance':
      if (state.creationFailed) throw failedForGood();
      overDataDisk();
      // Restarting a stopped instance starts it.
      return state.desired === 'running'
        ? [{ type: 'InstanceRestartRequested', data: { restart: state.restarts + 1 } }]
        : [{ type: 'InstanceStartRequested', data: {} }];
    case 'DeleteInstance':
      // Deleting works in every state, a failed creation included.
      return [{ type: 'InstanceDeleteRequested', data: {} }];
    default:
      throw new TianqiError('internal', `${command.type} is not a request`);
  }
}

/** What the platform saw. Recording the same observation twice records nothing the second time. */
function record(command: Command, state: InstanceState): InstanceEvent[] {
  switch (command.type) {
    case 'RecordContainerCreated':
      return state.containerId === command.containerId
        ? []
        : [
            {
              type: 'ContainerCreated',
              data: { containerId: command.containerId, containerName: command.containerName },
            },
          ];
    case 'RecordContainerStarted':
      assertHoldsResources(state);
      return state.observed === 'running' ? [] : [{ type: 'ContainerStarted', data: {} }];
    case 'RecordContainerRestarted':
      assertHoldsResources(state);
      if (command.restart > state.restarts)
        throw new TianqiError('validation', `no restart ${command.restart} was asked for`);
      return command.restart <= state.restartsDone
        ? []
        : [{ type: 'ContainerRestarted', data: { restart: command.restart } }];
    case 'RecordContainerExited':
      return state.observed === 'exited'
        ? []
        : [{ type: 'ContainerExited', data: { exitCode: command.exitCode, oomKilled: command.oomKilled } }];
    case 'RecordInstanceFailed':
      return state.observed === 'failed' && state.failure?.reason === command.reason
        ? []
        : [{ type: 'InstanceFailed', data: { phase: command.phase, reason: command.reason } }];
    case 'RecordContainerRemoved':
      return state.observed === 'removed' ? [] : [{ type: 'ContainerRemoved', data: {} }];
    case 'RecordReconcileFailed':
      return state.reconcileError === command.reason
        ? []
        : [{ type: 'ReconcileFailed', data: { reason: command.reason, retryAt: command.retryAt } }];
    case 'RecordReconcileRecovered':
      return state.reconcileError === null ? [] : [{ type: 'ReconcileRecovered', data: {} }];
    case 'RecordContainerDiscarded':
      // Only the container on record can be discarded, once.
      return state.containerId === command.containerId
        ? [{ type: 'ContainerDiscarded', data: { containerId: command.containerId, reason: command.reason } }]
        : [];
    case 'RecordVolumesRemoved':
      return command.volumes.length === 0
        ? []
        : [{ type: 'VolumesRemoved', data: { volumes: command.volumes } }];
    case 'RecordObservedUnknown':
      return state.observed === 'unknown'
        ? []
        : [{ type: 'InstanceObservedUnknown', data: { reason: command.reason } }];
    case 'RecordDrift':
      return state.drifts.includes(command.kind)
        ? []
        : [{ type: 'DriftDetected', data: { kind: command.kind, detail: command.detail } }];
    case 'RecordDriftResolved':
      return state.drifts.includes(command.kind)
        ? [{ type: 'DriftResolved', data: { kind: command.kind } }]
        : [];
    case 'RecordDataDiskUsage': {
      const usage = { usedBytes: command.usedBytes, limitBytes: command.limitBytes };
      const decision = dataDiskDecision(command, { over: state.dataDiskOver, desired: state.desired });
      switch (decision.kind) {
        case 'warn':
          return [{ type: 'DataDiskOverLimit', data: { ...usage, policy: command.policy } }];
        case 'stop':
          return [{ type: 'InstanceStopRequested', data: { reason: decision.reason } }];
        case 'back_under':
          return [{ type: 'DataDiskBackUnderLimit', data: usage }];
        case 'nothing':
          return [];
      }
      break;
    }
    case 'RecordTerminalSession': {
      const { type: _type, ...data } = command;
      const seconds = (Date.parse(data.endedAt) - Date.parse(data.startedAt)) / 1000;
      if (seconds < 0) throw new TianqiError('validation', 'a terminal session cannot end before it starts');
      return [{ type: 'TerminalSessionEnded', data: { ...data, seconds } }];
    }
    default:
      throw new TianqiError('internal', `${command.type} is not an observation`);
  }
}

/**
 * A container seen running after its instance gave its GPUs back (a creation that timed out but went
 * through after all) would run on cards that may be someone else's now: that is refused, and the
 * platform removes the container instead.
 */
function assertHoldsResources(state: InstanceState): void {
  if (!state.allocationHeld) {
    throw new TianqiError(
      'conflict',
      `instance ${state.name} holds no resources any more; its container must be removed, not run`,
    );
  }
}

/**
 * The node's resources go back once nothing can use them any more: the container of a deleted
 * instance is gone, or the creation failed. A stopped instance keeps its GPUs, so it can start again.
 */
function withRelease(before: InstanceState, events: InstanceEvent[]): InstanceEvent[] {
  if (events.length === 0 || !before.allocationHeld) return events;
  const after = events.reduce(evolveInstance, before);
  const due = instanceGone(after) || after.creationFailed;
  return due ? [...events, { type: 'AllocationReleased', data: { nodeId: before.nodeId } }] : events;
}

/**
 * Whether an instance is over: deleted and its container removed. What the sync, the reconciler and
 * the clients mean by "gone" (its resources and volumes may still be on their way out).
 */
export function instanceGone(instance: Pick<InstanceState, 'desired' | 'observed'>): boolean {
  return instance.desired === 'deleted' && instance.observed === 'removed';
}

/**
 * Whether the reconciler still has something to do for an instance that no drift rule covers: a
 * container to make and start, a restart asked for, a deletion to finish. What the sync hands it again
 * when nothing is queued for it, so a wake-up that never came costs one sync interval, not the instance
 * (the sync looks at instances that are not gone: a deletion whose container is removed but whose
 * volumes are not is left to the reconciler's own wake-up). A failed creation or start waits for its
 * owner, and exited or missing containers are drift.
 */
export function awaitsReconciler(
  instance: Pick<
    InstanceState,
    | 'desired'
    | 'observed'
    | 'creationFailed'
    | 'allocationHeld'
    | 'restarts'
    | 'restartsDone'
    | 'volumesRemoved'
  >,
): boolean {
  switch (instance.desired) {
    case 'deleted':
      return !instance.volumesRemoved;
    case 'stopped':
      return false;
    case 'running':
      if (instance.creationFailed || !instance.allocationHeld) return false;
      return (
        instance.observed === 'creating' ||
        (instance.observed === 'running' && instance.restarts > instance.restartsDone)
      );
  }
}

/** evolve(state, event) → state. */
export function evolveInstance(state: InstanceState, event: InstanceEvent): InstanceState {
  switch (event.type) {
    case 'InstanceCreated':
      return {
        ...state,
        exists: true,
        instanceId: event.data.instanceId,
        name: event.data.name,
        ownerId: event.data.ownerId,
        nodeId: event.data.node.nodeId,
        desired: 'running',
        observed: 'creating',
        allocation: event.data.allocation,
        allocationHeld: true,
        origin: { image: event.data.image, spec: event.data.spec, node: event.data.node },
      };
    case 'InstanceStartRequested':
      // A start begins a new grace: the next sync over the size warns again before anything stops.
      return { ...state, desired: 'running', dataDiskOver: null };
    case 'InstanceStopRequested':
      return { ...state, desired: 'stopped' };
    case 'InstanceRestartRequested':
      return { ...state, desired: 'running', restarts: event.data.restart };
    case 'InstanceDeleteRequested':
      return { ...state, desired: 'deleted' };
    case 'ContainerCreated':
      return { ...state, containerId: event.data.containerId, observed: 'creating', hadContainer: true };
    case 'ContainerStarted':
      return { ...state, observed: 'running', failure: null, containersDiscarded: 0 };
    case 'ContainerRestarted':
      return { ...state, observed: 'running', failure: null, restartsDone: event.data.restart };
    case 'ContainerExited':
      return { ...state, observed: 'exited' };
    case 'InstanceFailed':
      return {
        ...state,
        observed: 'failed',
        failure: event.data,
        // Only a first creation that failed is final: one after a discarded container is tried again.
        creationFailed: state.creationFailed || (event.data.phase === 'create' && !state.hadContainer),
      };
    case 'ContainerRemoved':
      return { ...state, observed: 'removed' };
    case 'ReconcileFailed':
      return { ...state, reconcileError: event.data.reason };
    case 'ReconcileRecovered':
      return { ...state, reconcileError: null };
    case 'ContainerDiscarded':
      // Still being created: the next container is made as if none had been.
      return {
        ...state,
        containerId: null,
        observed: 'creating',
        containersDiscarded: state.containersDiscarded + 1,
      };
    case 'VolumesRemoved':
      return { ...state, volumesRemoved: true };
    case 'InstanceObservedUnknown':
      return { ...state, observed: 'unknown' };
    case 'AllocationReleased':
      return { ...state, allocationHeld: false };
    case 'DriftDetected':
      return { ...state, drifts: [...state.drifts, event.data.kind] };
    case 'DriftResolved':
      return { ...state, drifts: state.drifts.filter((k) => k !== event.data.kind) };
    case 'DataDiskOverLimit':
      return {
        ...state,
        dataDiskOver: { usedBytes: event.data.usedBytes, limitBytes: event.data.limitBytes },
      };
    case 'DataDiskBackUnderLimit':
      return { ...state, dataDiskOver: null };
    case 'TerminalSessionEnded':
      return state;
  }
}
