import { createRouter, createWebHistory, type Router } from 'vue-router';
import { api } from '../api/client.js';
import { $t } from '../locales/index.js';
import { useSession } from '../stores/session.js';
import { routes } from './routes.js';

/** The one guard: sign-in first (and back to the page asked for), then the route's roles. */
export function createAppRouter(): Router {
  const router = createRouter({ history: createWebHistory(), routes });
  router.beforeEach(async (to) => {
    const session = useSession();
    if (!session.loaded) await session.load().catch(() => null);
    if (to.meta.public) {
      if (to.name === 'sign-in' && session.me) return (to.query.redirect as string) || { name: 'instances' };
      return true;
    }
    if (!session.me) {
      // A platform with no admin yet starts at its setup page.
      if ((await api.auth.setupStatus.query().catch(() => null))?.needsSetup) return { name: 'setup' };
      return { name: 'sign-in', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } };
    }
    if (to.meta.roles && !to.meta.roles.includes(session.me.role)) return { name: 'no-access' };
    return true;
  });
  router.afterEach((to) => {
    const title = to.meta.titleKey ? $t(to.meta.titleKey) : '';
    document.title = title ? `${title} · ${$t('app.name')}` : $t('app.name');
  });
  return router;
}
