import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';

export const teamColumns = [
  'teams.id',
  'teams.name',
  'teams.description',
  'teams.created_at',
  'teams.updated_at',
] as const;

export function createTeamsRepository() {
  return {
    listTeams(db: Executor) {
      return db.selectFrom('teams').select(teamColumns).orderBy('name').execute();
    },
    findTeam(db: Executor, id: string) {
      return db.selectFrom('teams').select(teamColumns).where('id', '=', id).executeTakeFirst();
    },
    /** Locks the team row (a delete against concurrent users of the team). */
    findTeamForUpdate(db: Executor, id: string) {
      return db.selectFrom('teams').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
    },
    membersOf(db: Executor, teamIds: readonly string[]) {
      if (teamIds.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('team_members')
        .innerJoin('users', 'users.id', 'team_members.user_id')
        .select(['team_members.team_id', 'users.id', 'users.username', 'users.display_name', 'users.role'])
        .where('team_members.team_id', 'in', teamIds)
        .orderBy('users.username')
        .execute();
    },
    insertTeam(db: Executor, values: { name: string; description: string }) {
      return db
        .insertInto('teams')
        .values(values)
        .onConflict((oc) => oc.expression(sql`lower(name)`).doNothing())
        .returning(teamColumns)
        .executeTakeFirst();
    },
    nameTaken(db: Executor, name: string, exceptId: string) {
      return db
        .selectFrom('teams')
        .select('id')
        .where(sql`lower(name)`, '=', name.toLowerCase())
        .where('id', '!=', exceptId)
        .executeTakeFirst();
    },
    updateTeam(db: Executor, id: string, patch: Partial<{ name: string; description: string }>) {
      return db
        .updateTable('teams')
        .set({ ...patch, updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .returning(teamColumns)
        .executeTakeFirst();
    },
    deleteTeam(db: Executor, id: string) {
      return db.deleteFrom('teams').where('id', '=', id).returning(['id', 'name']).executeTakeFirst();
    },
    addMember(db: Executor, teamId: string, userId: string) {
      return db
        .insertInto('team_members')
        .values({ team_id: teamId, user_id: userId })
        .onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing())
        .returning('team_id')
        .executeTakeFirst();
    },
    removeMember(db: Executor, teamId: string, userId: string) {
      return db
        .deleteFrom('team_members')
        .where('team_id', '=', teamId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
    },
    userExists(db: Executor, userId: string) {
      return db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
    },
  };
}

export type TeamsRepository = ReturnType<typeof createTeamsRepository>;
