// Who may see which conversation. An admin sees all; an agent or supervisor sees the
// conversations of their teams, the ones assigned to them, and the unrouted queue (no team);
// an auditor none. Not visible is reported exactly like "does not exist" (404).
import type { Actor } from '../identity/permissions.ts';
import type { Scope } from './conversations.repository.ts';

/** null = everything (admin). */
export function scopeOf(actor: Actor): Scope | null {
  if (actor.role === 'admin') return null;
  return { userId: actor.userId, teamIds: actor.teamIds, includeUnrouted: true };
}

export function canSee(actor: Actor, c: { team_id: string | null; assignee_id: string | null }): boolean {
  if (actor.role === 'admin') return true;
  if (actor.role === 'auditor') return false;
  if (c.assignee_id === actor.userId) return true;
  if (c.team_id === null) return true;
  return actor.teamIds.includes(c.team_id);
}
