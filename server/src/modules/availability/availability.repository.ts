// Agent availability rows (migrations/0020): the status each agent chose. No row = never chose.
import type { Executor } from '../../platform/db/database.ts';
import type { AgentAvailability } from '../../realtime/events.ts';

export function createAvailabilityRepository() {
  return {
    /** Every active, non-auditor user with their chosen status (null: never chosen). */
    listAgents(db: Executor, onlyUserIds?: readonly string[]) {
      let q = db
        .selectFrom('users')
        .leftJoin('agent_availability as a', 'a.user_id', 'users.id')
        .select(['users.id as user_id', 'a.status', 'a.updated_at'])
        .where('users.role', '!=', 'auditor')
        .where('users.disabled_at', 'is', null);
      if (onlyUserIds) {
        if (onlyUserIds.length === 0) return Promise.resolve([]);
        q = q.where('users.id', 'in', onlyUserIds);
      }
      return q.orderBy('users.id').execute();
    },

    /** Users who share at least one team with `userId` (and the user). */
    teammatesOf(db: Executor, userId: string) {
      return db
        .selectFrom('team_members as mine')
        .innerJoin('team_members as other', 'other.team_id', 'mine.team_id')
        .select('other.user_id')
        .distinct()
        .where('mine.user_id', '=', userId)
        .execute();
    },

    upsert(db: Executor, userId: string, status: AgentAvailability) {
      return db
        .insertInto('agent_availability')
        .values({ user_id: userId, status })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ status, updated_at: new Date() }))
        .returning(['user_id', 'status', 'updated_at'])
        .executeTakeFirstOrThrow();
    },
  };
}

export type AvailabilityRepository = ReturnType<typeof createAvailabilityRepository>;
