import type { RouteRecordRaw } from 'vue-router';

declare module 'vue-router' {
  interface RouteMeta {
    /** The i18n key of the page's title (and its menu entry). */
    titleKey?: string;
    /** The menu's icon name (components/menu-icons.ts); pages without one are not in the menu. */
    icon?: string;
    /** Who may open it; absent: every signed-in user. */
    roles?: ('admin' | 'user')[];
    /** Open without signing in. */
    public?: boolean;
    /** The menu group it is listed in (absent: the user's own pages). */
    group?: 'admin';
  }
}

export const routes: RouteRecordRaw[] = [
  {
    path: '/sign-in',
    name: 'sign-in',
    component: () => import('../views/sign-in/SignInView.vue'),
    meta: { public: true, titleKey: 'signIn.title' },
  },
  {
    path: '/setup',
    name: 'setup',
    component: () => import('../views/setup/SetupView.vue'),
    meta: { public: true, titleKey: 'setup.title' },
  },
  {
    path: '/',
    component: () => import('../layouts/AppLayout.vue'),
    children: [
      // Never shown: the guard sends each role to its first page.
      { path: '', name: 'home', component: () => import('../views/errors/NotFoundView.vue') },
      {
        path: 'instances',
        name: 'instances',
        component: () => import('../views/instances/InstanceListView.vue'),
        meta: { titleKey: 'nav.instances', icon: 'instances' },
      },
      {
        path: 'instances/new',
        name: 'create-instance',
        component: () => import('../views/create-instance/CreateInstanceView.vue'),
        meta: { titleKey: 'nav.create', icon: 'create' },
      },
      {
        path: 'instances/:instanceId/:tab?',
        name: 'instance',
        component: () => import('../views/instance/InstanceView.vue'),
        props: true,
        meta: { titleKey: 'nav.instances' },
      },
      {
        path: 'account',
        name: 'account',
        component: () => import('../views/account/AccountView.vue'),
        meta: { titleKey: 'nav.account', icon: 'account' },
      },
      {
        path: 'admin',
        name: 'admin-overview',
        component: () => import('../views/admin/overview/FleetOverviewView.vue'),
        meta: { titleKey: 'nav.overview', icon: 'overview', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'admin/nodes',
        name: 'admin-nodes',
        component: () => import('../views/admin/nodes/NodeListView.vue'),
        meta: { titleKey: 'nav.nodes', icon: 'nodes', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'admin/nodes/:nodeId',
        name: 'admin-node',
        component: () => import('../views/admin/nodes/NodeView.vue'),
        props: true,
        meta: { titleKey: 'nav.nodes', roles: ['admin'] },
      },
      {
        path: 'admin/images',
        name: 'admin-images',
        component: () => import('../views/admin/images/ImageListView.vue'),
        meta: { titleKey: 'nav.images', icon: 'images', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'admin/specs',
        name: 'admin-specs',
        component: () => import('../views/admin/specs/SpecListView.vue'),
        meta: { titleKey: 'nav.specs', icon: 'specs', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'admin/specs/:specId',
        name: 'admin-spec',
        component: () => import('../views/admin/specs/SpecView.vue'),
        props: true,
        meta: { titleKey: 'nav.specs', roles: ['admin'] },
      },
      {
        path: 'admin/users',
        name: 'admin-users',
        component: () => import('../views/admin/users/UserListView.vue'),
        meta: { titleKey: 'nav.users', icon: 'users', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'admin/users/:userId',
        name: 'admin-user',
        component: () => import('../views/admin/users/UserView.vue'),
        props: true,
        meta: { titleKey: 'nav.users', roles: ['admin'] },
      },
      {
        path: 'admin/drift',
        name: 'admin-drift',
        component: () => import('../views/admin/drift/DriftView.vue'),
        meta: { titleKey: 'nav.drift', icon: 'drift', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'admin/audit',
        name: 'admin-audit',
        component: () => import('../views/admin/audit/AuditView.vue'),
        meta: { titleKey: 'nav.audit', icon: 'audit', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'admin/usage',
        name: 'admin-usage',
        component: () => import('../views/admin/usage/UsageView.vue'),
        meta: { titleKey: 'nav.usage', icon: 'usage', roles: ['admin'], group: 'admin' },
      },
      {
        path: 'no-access',
        name: 'no-access',
        component: () => import('../views/errors/NoAccessView.vue'),
        meta: { titleKey: 'noAccess.title' },
      },
      {
        path: ':rest(.*)*',
        name: 'not-found',
        component: () => import('../views/errors/NotFoundView.vue'),
        meta: { titleKey: 'notFound.title' },
      },
    ],
  },
];
