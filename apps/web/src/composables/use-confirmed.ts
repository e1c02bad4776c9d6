import { useDialog, useMessage } from 'naive-ui';
import { useI18n } from 'vue-i18n';
import { describeError } from '../api/errors.js';

/**
 * An action asked for in a dialog first (a removal unless `positiveText` says otherwise); its
 * refusal shown long enough to read; once it went through, `done` (a reload).
 */
export function useConfirmed() {
  const { t } = useI18n();
  const dialog = useDialog();
  const message = useMessage();
  return (o: {
    title: string;
    content?: string;
    positiveText?: string;
    action: () => Promise<unknown>;
    done: () => unknown;
  }) =>
    dialog.warning({
      title: o.title,
      content: o.content,
      positiveText: o.positiveText ?? t('common.remove'),
      negativeText: t('common.cancel'),
      onPositiveClick: async () => {
        try {
          await o.action();
          await o.done();
        } catch (err) {
          message.error(describeError(err), { duration: 8_000 });
        }
      },
    });
}
