import type { RouterOutputs } from '@tianqi/api/client';
import { onMounted, onUnmounted, type Ref, ref } from 'vue';
import { api } from '../api/client.js';

export type Fleet = RouterOutputs['fleet']['overview'];

/**
 * The fleet overview as it changes (`fleet.watch`): the figures now, then again as events arrive.
 * The link resumes after a lost connection; the subscription ends with the component.
 */
export function useFleetWatch(): Ref<Fleet | null> {
  const fleet = ref<Fleet | null>(null);
  let subscription: { unsubscribe(): void } | null = null;
  onMounted(() => {
    subscription = api.fleet.watch.subscribe(undefined, {
      onData: (event) => (fleet.value = event.data as Fleet),
      onError: () => undefined,
    });
  });
  onUnmounted(() => subscription?.unsubscribe());
  return fleet;
}
