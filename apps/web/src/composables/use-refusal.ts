import { ref } from 'vue';
import { describeError, errorInfo } from '../api/errors.js';
import { fieldErrors } from '../lib/field-errors.js';

/**
 * A form's save and its refusal: the reasons placed by field (`errors`, with "" for those naming
 * none), anything else as one sentence (`failure`). What was typed is never touched.
 */
export function useRefusal() {
  const errors = ref<Record<string, string>>({});
  const failure = ref('');
  const saving = ref(false);

  function clear() {
    errors.value = {};
    failure.value = '';
  }

  /** Runs `action`; true when it went through. */
  async function submit(action: () => Promise<void>): Promise<boolean> {
    saving.value = true;
    clear();
    try {
      await action();
      return true;
    } catch (err) {
      const byField = fieldErrors(errorInfo(err));
      errors.value = byField;
      failure.value = Object.keys(byField).length > 0 && !byField[''] ? '' : describeError(err);
      return false;
    } finally {
      saving.value = false;
    }
  }

  const status = (key: string) => (errors.value[key] ? ('error' as const) : undefined);
  return { errors, failure, saving, status, clear, submit };
}

/** The fields of `draft` that differ from `saved`: an edit sends only those. */
export function changedFrom<T extends object>(draft: T, saved: Partial<T>): Partial<T> {
  return Object.fromEntries(
    Object.entries(draft).filter(([k, v]) => v !== saved[k as keyof T]),
  ) as Partial<T>;
}
