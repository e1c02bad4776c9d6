import { z } from 'zod';

/** 实例名称: letters, digits, `-` and `_`, 1–63 characters (it becomes part of the container name). */
export const instanceNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]{1,63}$/,
    'an instance name is 1–63 letters, digits, "-" or "_" (no spaces, no Chinese)',
  );

export type DesiredState = 'running' | 'stopped' | 'deleted';
/** What Docker was last seen to report: kept apart from what was asked for. */
export type ObservedState = 'creating' | 'running' | 'exited' | 'failed' | 'removed' | 'unknown';

export const instanceCommandSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('CreateInstance'),
    instanceId: z.string().min(1),
    name: instanceNameSchema,
    imageId: z.string().min(1),
    specId: z.string().min(1),
    nodeId: z.string().min(1),
    /** Always the caller, set by the server, never taken from the client. */
    ownerId: z.string().min(1),
    remark: z.string().max(500).default(''),
  }),
  z.object({ type: z.literal('StartInstance') }),
  z.object({ type: z.literal('StopInstance') }),
  z.object({ type: z.literal('RestartInstance') }),
  z.object({ type: z.literal('DeleteInstance') }),
]);
export type InstanceCommand = z.input<typeof instanceCommandSchema>;

export const instanceEventSchemas = {
  InstanceCreated: z.object({
    instanceId: z.string(),
    name: z.string(),
    imageId: z.string(),
    specId: z.string(),
    nodeId: z.string(),
    ownerId: z.string(),
    remark: z.string(),
  }),
  InstanceStartRequested: z.object({}),
  InstanceStopRequested: z.object({}),
  InstanceRestartRequested: z.object({}),
  InstanceDeleteRequested: z.object({}),
};
type Schemas = typeof instanceEventSchemas;
export type InstanceEvent = { [K in keyof Schemas]: { type: K; data: z.output<Schemas[K]> } }[keyof Schemas];

export interface InstanceState {
  exists: boolean;
  instanceId: string;
  name: string;
  ownerId: string;
  nodeId: string;
  desired: DesiredState;
  observed: ObservedState;
  /** Restarts asked for so far: the reconciler acts once per request. */
  restarts: number;
}

export const initialInstanceState: InstanceState = {
  exists: false,
  instanceId: '',
  name: '',
  ownerId: '',
  nodeId: '',
  desired: 'stopped',
  observed: 'unknown',
  restarts: 0,
};

/** A command the instance's state refuses; `code` is the shared error vocabulary. */
export class InstanceRuleError extends Error {
  constructor(
    readonly code: 'validation' | 'conflict' | 'not_found',
    message: string,
  ) {
    super(message);
    this.name = 'InstanceRuleError';
  }
}

/** decide(command, state) → events: the rules a user expects, no I/O. */
export function decideInstance(input: InstanceCommand, state: InstanceState): InstanceEvent[] {
  const parsed = instanceCommandSchema.safeParse(input);
  if (!parsed.success) {
    throw new InstanceRuleError(
      'validation',
      parsed.error.issues.map((i) => `${i.path.join('.') || 'command'}: ${i.message}`).join('; '),
    );
  }
  const command = parsed.data;
  if (command.type === 'CreateInstance') {
    if (state.exists)
      throw new InstanceRuleError('conflict', `instance ${command.instanceId} already exists`);
    const { type: _type, ...data } = command;
    return [{ type: 'InstanceCreated', data }];
  }
  if (!state.exists) throw new InstanceRuleError('not_found', 'no such instance');
  if (state.desired === 'deleted')
    throw new InstanceRuleError('conflict', `instance ${state.name} is deleted`);
  switch (command.type) {
    case 'StartInstance':
      return state.desired === 'running' ? [] : [{ type: 'InstanceStartRequested', data: {} }];
    case 'StopInstance':
      return state.desired === 'stopped' ? [] : [{ type: 'InstanceStopRequested', data: {} }];
    case 'RestartInstance':
      // Restarting a stopped instance starts it.
      return state.desired === 'running'
        ? [{ type: 'InstanceRestartRequested', data: {} }]
        : [{ type: 'InstanceStartRequested', data: {} }];
    case 'DeleteInstance':
      // Deleting works in every state, a failed creation included.
      return [{ type: 'InstanceDeleteRequested', data: {} }];
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
        nodeId: event.data.nodeId,
        desired: 'running',
        observed: 'creating',
      };
    case 'InstanceStartRequested':
      return { ...state, desired: 'running' };
    case 'InstanceStopRequested':
      return { ...state, desired: 'stopped' };
    case 'InstanceRestartRequested':
      return { ...state, desired: 'running', restarts: state.restarts + 1 };
    case 'InstanceDeleteRequested':
      return { ...state, desired: 'deleted' };
  }
}
