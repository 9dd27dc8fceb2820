// What each inbox tab counts: the open conversations in that view where work waits for the
// reader — nobody has taken it yet (unassigned), or it is theirs and the visitor wrote since
// they last read it. (Unread marks are per reader, so a colleague's conversation never counts.)
// Kept apart from conversations.service.ts, which is long enough; the service exposes it.
import { sql, type Expression, type SqlBool } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';
import { authorize, type Actor } from '../identity/permissions.ts';
import { scopeOf } from './visibility.ts';

export interface InboxCounts {
  mine: number;
  unassigned: number;
  team: number;
  all: number;
}

/** The four counts in one statement over the (bounded) set of open conversations. */
async function countWaiting(db: Executor, actor: Actor): Promise<InboxCounts> {
  const scope = scopeOf(actor);
  const me = actor.userId;
  const teams = actor.teamIds.length > 0 ? actor.teamIds : ['00000000-0000-0000-0000-000000000000'];
  const unreadByMe = sql<SqlBool>`(c.assignee_id = ${me} and exists (
      select 1 from messages m
       where m.conversation_id = c.id and m.sender_type = 'visitor'
         and m.seq > coalesce((select r.read_seq from conversation_reads r
                                where r.conversation_id = c.id and r.user_id = ${me}), 0)))`;
  const waiting = sql<SqlBool>`(c.assignee_id is null or ${unreadByMe})`;
  let query = db
    .selectFrom('conversations as c')
    .where('c.status', '=', 'open')
    .select([
      sql<string>`count(*) filter (where ${unreadByMe})`.as('mine'),
      sql<string>`count(*) filter (where c.assignee_id is null)`.as('unassigned'),
      sql<string>`count(*) filter (where c.team_id in (${sql.join(teams)}) and ${waiting})`.as('team'),
      sql<string>`count(*) filter (where ${waiting})`.as('all'),
    ]);
  if (scope) {
    query = query.where((eb) => {
      const ors: Expression<SqlBool>[] = [eb('c.assignee_id', '=', scope.userId)];
      if (scope.teamIds.length > 0) ors.push(eb('c.team_id', 'in', scope.teamIds));
      if (scope.includeUnrouted) ors.push(eb('c.team_id', 'is', null));
      return eb.or(ors);
    });
  }
  const row = await query.executeTakeFirstOrThrow();
  return {
    mine: Number(row.mine),
    unassigned: Number(row.unassigned),
    team: Number(row.team),
    all: Number(row.all),
  };
}

export function createInboxCounts(deps: { db: Executor }) {
  return {
    /** The reader's counts per tab (same visibility as the lists). */
    async inboxCounts(actor: Actor): Promise<InboxCounts> {
      authorize(actor, 'conversations.read');
      return countWaiting(deps.db, actor);
    },
  };
}
