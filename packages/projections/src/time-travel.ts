import {
  evolveInstance,
  type InstanceEvent,
  type InstanceState,
  initialInstanceState,
  streams,
  TianqiError,
} from '@tianqi/domain';
import type { PlatformStore } from './platform-events.js';

export interface InstanceAt {
  state: InstanceState;
  /** The stream version the state is at (how many of its events had happened). */
  version: number;
  /** When the last of those events was recorded. */
  asOf: Date | null;
}

/** An instance's state at a past moment, folded from its own stream up to that time. */
export async function instanceAt(store: PlatformStore, instanceId: string, at: Date): Promise<InstanceAt> {
  const events = await store.readStream(streams.instance(instanceId), { until: at });
  if (events.length === 0) {
    throw new TianqiError('not_found', `instance ${instanceId} did not exist at ${at.toISOString()}`);
  }
  return {
    state: events.reduce((s, e) => evolveInstance(s, e as unknown as InstanceEvent), initialInstanceState),
    version: events.at(-1)!.version,
    asOf: events.at(-1)!.recordedAt,
  };
}
