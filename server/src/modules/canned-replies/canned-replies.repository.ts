// Every SQL statement about canned replies.
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';

export const cannedReplyColumns = [
  'canned_replies.id',
  'canned_replies.scope',
  'canned_replies.owner_id',
  'canned_replies.team_id',
  'canned_replies.shortcut',
  'canned_replies.body',
  'canned_replies.category',
  'canned_replies.created_at',
  'canned_replies.updated_at',
] as const;

export function createCannedRepliesRepository() {
  return {
    /** Global replies, the given teams' replies (all teams when teamIds is 'all'), and the user's own. */
    listVisible(db: Executor, userId: string, teamIds: readonly string[] | 'all') {
      return db
        .selectFrom('canned_replies')
        .leftJoin('teams', 'teams.id', 'canned_replies.team_id')
        .select([...cannedReplyColumns, 'teams.name as team_name'])
        .where((eb) =>
          eb.or([
            eb('canned_replies.scope', '=', 'global'),
            eb.and([eb('canned_replies.scope', '=', 'personal'), eb('canned_replies.owner_id', '=', userId)]),
            ...(teamIds === 'all'
              ? [eb('canned_replies.scope', '=', 'team')]
              : teamIds.length > 0
                ? [
                    eb.and([
                      eb('canned_replies.scope', '=', 'team'),
                      eb('canned_replies.team_id', 'in', teamIds),
                    ]),
                  ]
                : []),
          ]),
        )
        .orderBy('canned_replies.category')
        .orderBy(sql`lower(canned_replies.shortcut)`)
        .execute();
    },

    find(db: Executor, id: string) {
      return db
        .selectFrom('canned_replies')
        .leftJoin('teams', 'teams.id', 'canned_replies.team_id')
        .select([...cannedReplyColumns, 'teams.name as team_name'])
        .where('canned_replies.id', '=', id)
        .executeTakeFirst();
    },

    findForUpdate(db: Executor, id: string) {
      return db
        .selectFrom('canned_replies')
        .select(cannedReplyColumns)
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
    },

    teamExists(db: Executor, teamId: string) {
      return db.selectFrom('teams').select('id').where('id', '=', teamId).executeTakeFirst();
    },

    /** Inserts; undefined when the shortcut is taken in that scope. */
    insert(
      db: Executor,
      values: {
        scope: string;
        ownerId: string | null;
        teamId: string | null;
        shortcut: string;
        body: string;
        category: string;
        createdBy: string;
      },
    ) {
      return db
        .insertInto('canned_replies')
        .values({
          scope: values.scope,
          owner_id: values.ownerId,
          team_id: values.teamId,
          shortcut: values.shortcut,
          body: values.body,
          category: values.category,
          created_by: values.createdBy,
        })
        .onConflict((oc) =>
          oc
            .expression(
              sql`scope, coalesce(owner_id, team_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(shortcut)`,
            )
            .doNothing(),
        )
        .returning('id')
        .executeTakeFirst();
    },

    shortcutTaken(
      db: Executor,
      scope: { scope: string; ownerId: string | null; teamId: string | null },
      shortcut: string,
      exceptId: string,
    ) {
      return db
        .selectFrom('canned_replies')
        .select('id')
        .where('scope', '=', scope.scope)
        .where('owner_id', 'is not distinct from', scope.ownerId)
        .where('team_id', 'is not distinct from', scope.teamId)
        .where(sql`lower(shortcut)`, '=', shortcut.toLowerCase())
        .where('id', '!=', exceptId)
        .executeTakeFirst();
    },

    update(db: Executor, id: string, patch: Partial<{ shortcut: string; body: string; category: string }>) {
      return db
        .updateTable('canned_replies')
        .set({ ...patch, updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .executeTakeFirst();
    },

    delete(db: Executor, id: string) {
      return db.deleteFrom('canned_replies').where('id', '=', id).executeTakeFirst();
    },
  };
}

export type CannedRepliesRepository = ReturnType<typeof createCannedRepliesRepository>;
