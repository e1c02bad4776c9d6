import { START, type Subscription } from '@tianqi/events';
import { liveNodeIds, type PlatformEvent, type PlatformStore } from '@tianqi/projections';
import type { EventFollowers } from './event-followers.js';

/**
 * Keeps the followers on the nodes the sync looks at (every one not deleted, listed or not): those
 * there now, and from then on a node registered, edited (a new address or certificate opens its
 * stream again) or deleted. Stopping it leaves the followers as they are.
 */
export async function followLiveNodes(
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
        if (e.type === 'NodeRegistered' || e.type === 'NodeUpdated') await followers.follow(nodeId);
        if (e.type === 'NodeDeleted') await followers.unfollow(nodeId);
      }
    },
  });
  await Promise.all((await liveNodeIds(store.pool)).map((id) => followers.follow(id)));
  return { stop: () => subscription.stop() };
}
