// Routes and the one navigation guard: learn who is signed in, send signed-out users to the
// login page (remembering where they were going), force a password change when the server asks
// for one, and keep pages a user may not use out of reach.
import {
  createRouter,
  createWebHistory,
  type RouteLocationRaw,
  type Router,
  type RouterHistory,
} from 'vue-router';
import type { Permission } from '../api/types.ts';
import { useSessionStore } from '../stores/session.ts';

declare module 'vue-router' {
  interface RouteMeta {
    /** Reachable without signing in. */
    public?: boolean;
    /** Reachable while the user still has to change their password. */
    duringPasswordChange?: boolean;
    /** Reachable while the user still has to set up two-factor sign-in. */
    duringMfaEnrollment?: boolean;
    /** Permission the page needs. */
    permission?: Permission;
    /** i18n key of the page title. */
    title?: string;
  }
}

/**
 * The navigation, grouped the way agents and admins think: the daily work first, settings last.
 * Groups for modules still to come (tickets, the knowledge base, reports and quality) take their
 * pages here; a group shows only when the user may use one of its pages. The account is in the
 * user menu. The first page the user may use is their home.
 */
export type NavPageName =
  | 'inbox'
  | 'contacts'
  | 'canned-replies'
  | 'knowledge'
  | 'knowledge-terms'
  | 'users'
  | 'teams'
  | 'business-hours'
  | 'routing-rules'
  | 'widget-settings'
  | 'security'
  | 'backups'
  | 'audit'
  | 'account';
export interface NavPage {
  name: NavPageName;
  title: string;
  permission: Permission | undefined;
}
export interface NavGroup {
  key: 'workspace' | 'customers' | 'knowledge' | 'reports' | 'settings';
  title: string;
  pages: readonly NavPage[];
}

export const NAV_GROUPS: readonly NavGroup[] = [
  {
    key: 'workspace',
    title: 'nav.groups.workspace',
    pages: [{ name: 'inbox', title: 'nav.inbox', permission: 'conversations.read' }],
  },
  {
    key: 'customers',
    title: 'nav.groups.customers',
    pages: [{ name: 'contacts', title: 'contacts.nav', permission: 'privacy.manage' }],
  },
  {
    key: 'knowledge',
    title: 'nav.groups.knowledge',
    pages: [
      { name: 'knowledge', title: 'nav.knowledge', permission: 'knowledge.read' },
      { name: 'knowledge-terms', title: 'nav.knowledgeTerms', permission: 'knowledge.read' },
      { name: 'canned-replies', title: 'nav.cannedReplies', permission: 'canned_replies.use' },
    ],
  },
  { key: 'reports', title: 'nav.groups.reports', pages: [] },
  {
    key: 'settings',
    title: 'nav.groups.settings',
    pages: [
      { name: 'users', title: 'nav.users', permission: 'users.read' },
      { name: 'teams', title: 'nav.teams', permission: 'teams.manage' },
      { name: 'business-hours', title: 'businessHours.nav', permission: 'business_hours.read' },
      { name: 'routing-rules', title: 'routing.nav', permission: 'routing.read' },
      { name: 'widget-settings', title: 'widgetSettings.nav', permission: 'channels.manage' },
      { name: 'security', title: 'nav.security', permission: 'security.manage' },
      { name: 'backups', title: 'nav.backups', permission: 'backups.read' },
      { name: 'audit', title: 'nav.audit', permission: 'audit.read' },
    ],
  },
];

/** Every page reachable from the navigation or the user menu, in navigation order. */
export const NAV_PAGES: readonly NavPage[] = [
  ...NAV_GROUPS.flatMap((g) => g.pages),
  { name: 'account', title: 'nav.account', permission: undefined },
];

/** Only same-app paths are followed after sign-in (no "//evil.example" or absolute URLs). */
export function safeRedirect(value: unknown): string | undefined {
  return typeof value === 'string' &&
    value.startsWith('/') &&
    !value.startsWith('//') &&
    !value.startsWith('/\\')
    ? value
    : undefined;
}

export function createConsoleRouter(history: RouterHistory = createWebHistory()): Router {
  const router = createRouter({
    history,
    routes: [
      {
        path: '/login',
        name: 'login',
        component: () => import('../views/LoginView.vue'),
        meta: { public: true },
      },
      {
        path: '/password',
        name: 'password',
        component: () => import('../views/ForcedPasswordView.vue'),
        meta: { duringPasswordChange: true },
      },
      {
        path: '/two-factor',
        name: 'two-factor',
        component: () => import('../views/ForcedTwoFactorView.vue'),
        meta: { duringMfaEnrollment: true },
      },
      {
        path: '/',
        component: () => import('../layout/AppShell.vue'),
        children: [
          { path: '', name: 'home', component: { render: () => null } },
          {
            path: 'inbox/:id?',
            name: 'inbox',
            component: () => import('../views/InboxView.vue'),
            meta: { permission: 'conversations.read', title: 'nav.inbox' },
          },
          {
            path: 'canned-replies',
            name: 'canned-replies',
            component: () => import('../views/CannedRepliesView.vue'),
            meta: { permission: 'canned_replies.use', title: 'nav.cannedReplies' },
          },
          {
            path: 'knowledge',
            name: 'knowledge',
            component: () => import('../views/knowledge/KnowledgeView.vue'),
            meta: { permission: 'knowledge.read', title: 'nav.knowledge' },
          },
          {
            path: 'knowledge/terms',
            name: 'knowledge-terms',
            component: () => import('../views/knowledge/KnowledgeTermsView.vue'),
            meta: { permission: 'knowledge.read', title: 'nav.knowledgeTerms' },
          },
          {
            path: 'admin/users',
            name: 'users',
            component: () => import('../views/admin/UsersView.vue'),
            meta: { permission: 'users.read', title: 'nav.users' },
          },
          {
            path: 'admin/teams',
            name: 'teams',
            component: () => import('../views/admin/TeamsView.vue'),
            meta: { permission: 'teams.manage', title: 'nav.teams' },
          },
          {
            path: 'admin/business-hours',
            name: 'business-hours',
            component: () => import('../views/admin/BusinessHoursView.vue'),
            meta: { permission: 'business_hours.read', title: 'businessHours.nav' },
          },
          {
            path: 'admin/routing',
            name: 'routing-rules',
            component: () => import('../views/admin/RoutingRulesView.vue'),
            meta: { permission: 'routing.read', title: 'routing.nav' },
          },
          {
            path: 'admin/audit',
            name: 'audit',
            component: () => import('../views/admin/AuditView.vue'),
            meta: { permission: 'audit.read', title: 'nav.audit' },
          },
          {
            path: 'admin/security',
            name: 'security',
            component: () => import('../views/admin/SecurityView.vue'),
            meta: { permission: 'security.manage', title: 'nav.security' },
          },
          {
            path: 'admin/backups',
            name: 'backups',
            component: () => import('../views/admin/BackupsView.vue'),
            meta: { permission: 'backups.read', title: 'nav.backups' },
          },
          {
            path: 'account',
            name: 'account',
            component: () => import('../views/AccountView.vue'),
            meta: { title: 'nav.account' },
          },
          {
            path: 'admin/widget',
            name: 'widget-settings',
            component: () => import('../views/admin/WidgetSettingsView.vue'),
            meta: { permission: 'channels.manage', title: 'widgetSettings.nav' },
          },
          {
            path: 'admin/contacts',
            name: 'contacts',
            component: () => import('../views/admin/ContactsView.vue'),
            meta: { permission: 'privacy.manage', title: 'contacts.nav' },
          },
        ],
      },
      { path: '/:rest(.*)*', redirect: { name: 'home' } },
    ],
  });

  router.beforeEach(async (to): Promise<RouteLocationRaw | true> => {
    const session = useSessionStore();
    if (session.status === 'unknown') await session.load();
    const signedIn = session.status === 'signed-in';

    if (to.meta.public) {
      if (to.name === 'login' && signedIn) return safeRedirect(to.query.redirect) ?? { name: 'home' };
      return true;
    }
    if (!signedIn) return { name: 'login', query: { redirect: to.fullPath } };
    if (session.mustChangePassword && !to.meta.duringPasswordChange) {
      return { name: 'password', query: { redirect: to.fullPath } };
    }
    if (to.name === 'password' && !session.mustChangePassword) return { name: 'account' };
    if (session.mfaEnrollmentRequired && !session.mustChangePassword && !to.meta.duringMfaEnrollment) {
      return { name: 'two-factor', query: { redirect: to.fullPath } };
    }
    if (to.name === 'two-factor' && !session.mfaEnrollmentRequired) return { name: 'account' };
    if (to.name === 'home') {
      const home = NAV_PAGES.find((p) => p.permission === undefined || session.can(p.permission));
      return { name: home?.name ?? 'account' };
    }
    if (to.meta.permission && !session.can(to.meta.permission)) return { name: 'home' };
    return true;
  });

  return router;
}
