// Roles and what they may do. Every route declares one of these (or 'public' / 'authenticated');
// services check them again with `authorize`, so a route mistake cannot widen access.
import { ForbiddenError } from '../../platform/errors.ts';

export const ROLES = ['admin', 'supervisor', 'agent', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'users.read',
  'users.manage',
  'teams.read',
  'teams.manage',
  'audit.read',
  /** See conversations in scope (own teams, own assignments, unrouted; admins all) and their messages. */
  'conversations.read',
  /** Send messages and private notes, mark read, recall/edit own messages. */
  'conversations.reply',
  /** Claim, transfer (to an agent, with a note), resolve, reopen, snooze, set priority. */
  'conversations.manage',
  /** Assign any conversation in scope to anyone (supervisors in their teams; admins anywhere). */
  'conversations.assign',
  /** Delete a conversation with its messages and attachments. */
  'conversations.delete',
  'contacts.read',
  'contacts.manage',
  /** Channel settings, including the identity-verification secret. */
  'channels.manage',
  'canned_replies.use',
  'canned_replies.manage_team',
  'canned_replies.manage_global',
  'backups.read',
  'audit.export',
  'security.manage',
  'sessions.manage',
  'pii.reveal',
  /** Data-subject requests: export everything about a contact, erase a contact. */
  'privacy.manage',
  /** See colleagues' availability (agents: their teams' members; with users.read: everyone). */
  'availability.read',
  /** Set one's own availability (online, busy, away, offline). */
  'availability.set',
  /** See business-hours calendars (weekly hours, holidays, make-up days) and which team uses which. */
  'business_hours.read',
  /** Create, change and delete calendars, apply the PRC schedule, import .ics, link teams. */
  'business_hours.manage',
  /**
   * See a team's queue, routing settings and agents' load (supervisors: their teams; admins: all);
   * see the routing rules and websites' default teams, and use the "test this rule" box.
   */
  'routing.read',
  /** Change a team's routing settings, its members' capacity and status (supervisors: their teams). */
  'routing.manage',
  /** Create, edit, reorder and delete routing rules; set a website's default team (admins only). */
  'routing_rules.manage',
  /** Browse and search the knowledge base (FAQ entries, categories, synonyms, dictionary). */
  'knowledge.read',
  /** The knowledge admin: edit entries, categories, synonyms, dictionary; import and export. */
  'knowledge.manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** What a route needs: a permission, any signed-in user, or nothing. */
export type RouteAccess = Permission | 'authenticated' | 'public';

const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  supervisor: [
    'users.read',
    'teams.read',
    'conversations.read',
    'conversations.reply',
    'conversations.manage',
    'conversations.assign',
    'contacts.read',
    'contacts.manage',
    'canned_replies.use',
    'canned_replies.manage_team',
    'availability.read',
    'availability.set',
    'business_hours.read',
    'routing.read',
    'routing.manage',
    'knowledge.read',
    'knowledge.manage',
  ],
  agent: [
    'teams.read',
    'conversations.read',
    'conversations.reply',
    'conversations.manage',
    'contacts.read',
    'contacts.manage',
    'canned_replies.use',
    'availability.read',
    'availability.set',
    'knowledge.read',
  ],
  auditor: ['audit.read', 'audit.export'],
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

export function roleHas(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}

export function permissionsOf(role: Role): readonly Permission[] {
  return ROLE_PERMISSIONS[role];
}

/** The signed-in user behind a request, as services see it. */
export interface Actor {
  userId: string;
  username: string;
  displayName: string;
  role: Role;
  teamIds: readonly string[];
  sessionId: string;
  ip: string | null;
  userAgent: string | null;
  /** Security policy requires 2FA for this role and the user has not set it up yet. */
  mfaEnrollmentRequired?: boolean;
}

export function authorize(actor: Actor, permission: Permission): void {
  if (!roleHas(actor.role, permission)) throw new ForbiddenError();
}
