import { randomBytes } from 'node:crypto';
import type { PlatformStore } from '@tianqi/projections';

/**
 * The reference a create is measured beside: the same three appends (an instance's new stream, the
 * node's shared one, a new name claim) with no reads and no decisions, what the store alone allows.
 * Streams and events nothing reacts to (no `instance-`, `node-` or `name-` stream).
 */
export function bareAppend(store: PlatformStore, tag: string) {
  return async (worker: number, i: number): Promise<void> => {
    const id = `${tag}x${worker}x${i}x${randomBytes(3).toString('hex')}`;
    await store.appendMany([
      {
        streamId: `bare-inst-${id}`,
        expectedVersion: 'no_stream',
        events: [{ type: 'ContainerStarted', data: {} }],
      },
      {
        streamId: `bare-node-${tag}`,
        expectedVersion: 'any',
        events: [{ type: 'ResourcesReleased', data: { instanceId: id } }],
      },
      {
        streamId: `bare-name-${id}`,
        expectedVersion: 'no_stream',
        events: [{ type: 'NameReleased', data: { holderId: id } }],
      },
    ]);
  };
}
