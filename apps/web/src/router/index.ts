import { createRouter, createWebHistory, type RouteLocationNormalized, type Router } from 'vue-router';
import { api } from '../api/client.js';
import { $t } from '../locales/index.js';
import { useSession } from '../stores/session.js';
import { routes } from './routes.js';

/** Starts fetching the lazy components of a route (the router fetches them only after the guards). */
function preload(to: RouteLocationNormalized): void {
  for (const record of to.matched) {
    for (const component of Object.values(record.components ?? {})) {
      // A lazy component is a bare loader function; a component has options (or is an object).
      if (typeof component === 'function' && !('__vccOpts' in component) && !('props' in component))
        void (component as () => Promise<unknown>)().catch(() => undefined);
    }
  }
}

/** The one guard: sign-in first (and back to the page asked for), then the route's roles. */
export function createAppRouter(): Router {
  const router = createRouter({ history: createWebHistory(), routes });
  router.beforeEach(async (to) => {
    const session = useSession();
    if (!session.loaded) {
      // On a page load the page's code is fetched while the session is asked for, not after it.
      preload(to);
      await session.load().catch(() => null);
    }
    if (to.meta.public) {
      if (to.name === 'sign-in' && session.me) return (to.query.redirect as string) || '/';
      return true;
    }
    if (!session.me) {
      // A platform with no admin yet starts at its setup page.
      if ((await api.auth.setupStatus.query().catch(() => null))?.needsSetup) return { name: 'setup' };
      return { name: 'sign-in', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } };
    }
    if (to.meta.roles && !to.meta.roles.includes(session.me.role)) return { name: 'no-access' };
    // The first page: the fleet for an admin, their instances for a user.
    if (to.name === 'home') return { name: session.isAdmin ? 'admin-overview' : 'instances' };
    return true;
  });
  router.afterEach((to) => {
    const title = to.meta.titleKey ? $t(to.meta.titleKey) : '';
    document.title = title ? `${title} · ${$t('app.name')}` : $t('app.name');
  });
  return router;
}
