import { START, type Subscription } from '@tianqi/events';
import type { PlatformEvent, PlatformStore } from '@tianqi/projections';
import type { EventFollowers } from './event-followers.js';

/**
 * Which nodes are followed is the node ownership's (a node's stream is opened where its lease is
 * held, beside its reconciler and sync); this keeps a followed node's stream on its current settings:
 * a node edited (a new address or certificate) has its stream opened again, a deleted one is dropped
 * at once rather than when its lease goes. Stopping it leaves the followers as they are.
 */
export async function followNodeEdits(
  followers: EventFollowers,
  store: PlatformStore,
): Promise<{ stop(): Promise<void> }> {
  const head = await store.head();
  const subscription: Subscription<PlatformEvent> = store.subscribe({
    from: head.transactionId === START.transactionId ? START : head,
    handle: async (events) => {
      for (const e of events) {
        if (!e.streamId.startsWith('node-')) continue;
        const nodeId = e.streamId.slice('node-'.length);
        if (!followers.nodeIds.includes(nodeId)) continue;
        if (e.type === 'NodeUpdated') await followers.follow(nodeId);
        if (e.type === 'NodeDeleted') await followers.unfollow(nodeId);
      }
    },
  });
  return { stop: () => subscription.stop() };
}
