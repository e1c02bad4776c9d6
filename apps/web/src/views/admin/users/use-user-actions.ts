import type { RouterOutputs } from '@tianqi/api/client';
import { useMessage } from 'naive-ui';
import { useI18n } from 'vue-i18n';
import { api } from '../../../api/client.js';
import { describeError } from '../../../api/errors.js';
import { useConfirmed } from '../../../composables/use-confirmed.js';

export type User = RouterOutputs['users']['list'][number];

/**
 * What an admin does to an account, a role change or disabling confirmed first, each refusal shown
 * (an admin cannot disable themselves or take away their own role): `done` reloads the page's data.
 */
export function useUserActions(done: () => Promise<void>) {
  const { t } = useI18n();
  const message = useMessage();
  const confirmed = useConfirmed();

  function setRole(user: User) {
    const role = user.role === 'admin' ? 'user' : 'admin';
    const roleName = t(`admin.users.${role}`);
    confirmed({
      title: t('admin.users.roleTitle', { name: user.username, role: roleName }),
      positiveText: t('common.confirm'),
      action: () => api.users.setRole.mutate({ userId: user.userId, role }),
      done: () => {
        message.success(t('admin.users.roleDone', { name: user.username, role: roleName }));
        return done();
      },
    });
  }

  async function setDisabled(user: User, disabled: boolean) {
    if (disabled) {
      confirmed({
        title: t('admin.users.disableTitle', { name: user.username }),
        content: t('admin.users.disableBody'),
        positiveText: t('admin.users.disable'),
        action: async () => {
          const { sessionsEnded } = await api.users.disable.mutate({ userId: user.userId });
          message.success(t('admin.users.disabledDone', { name: user.username, n: sessionsEnded }));
        },
        done,
      });
      return;
    }
    try {
      await api.users.enable.mutate({ userId: user.userId });
      message.success(t('admin.users.enabledDone', { name: user.username }));
      await done();
    } catch (err) {
      message.error(describeError(err), { duration: 8_000 });
    }
  }

  return { setRole, setDisabled };
}
