import type { InstanceView } from '@tianqi/api/client';
import { onMounted, onUnmounted } from 'vue';
import { api } from '../api/client.js';

/**
 * Instance rows as they change, from `instances.watch` (one instance, or all the viewer may see):
 * first the rows as they are, then each change as the read models take it in. The link resumes after
 * a lost connection from the last event id it saw; the subscription ends with the component.
 */
export function useInstanceWatch(instanceId: string | undefined, onRow: (row: InstanceView) => void): void {
  let subscription: { unsubscribe(): void } | null = null;
  onMounted(() => {
    subscription = api.instances.watch.subscribe(
      { instanceId },
      { onData: (event) => onRow(event.data as InstanceView), onError: () => undefined },
    );
  });
  onUnmounted(() => subscription?.unsubscribe());
}
