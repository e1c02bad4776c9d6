import { useMessage } from 'naive-ui';
import { onMounted, type Ref, ref } from 'vue';
import { describeError } from '../api/errors.js';

/**
 * What a page shows from the API: read when the page opens and whenever `load` is called again (a
 * refresh button, a save); while it is read `loading` is set; a failure is told in the user's
 * language and the rows shown so far stay.
 */
export function useLoaded<T>(read: () => Promise<T>, initial: T) {
  const message = useMessage();
  const data = ref(initial) as Ref<T>;
  const loading = ref(false);
  async function load(): Promise<void> {
    loading.value = true;
    try {
      data.value = await read();
    } catch (err) {
      message.error(describeError(err));
    } finally {
      loading.value = false;
    }
  }
  onMounted(load);
  return { data, loading, load };
}
