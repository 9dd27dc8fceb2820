// Every SQL statement about users, sessions and login throttling.
import { sql } from 'kysely';
import type { Executor } from '../../platform/db/database.ts';

/** Columns that may leave the server. Never the password hash. */
export const userColumns = [
  'users.id',
  'users.username',
  'users.display_name',
  'users.role',
  'users.must_change_password',
  'users.disabled_at',
  'users.created_at',
  'users.updated_at',
] as const;

export function createIdentityRepository() {
  return {
    findUserByUsername(db: Executor, username: string) {
      return db
        .selectFrom('users')
        .select([...userColumns, 'users.password_hash'])
        .where('username', '=', username)
        .executeTakeFirst();
    },

    findUserById(db: Executor, id: string) {
      return db.selectFrom('users').select(userColumns).where('id', '=', id).executeTakeFirst();
    },

    findUserByIdForUpdate(db: Executor, id: string) {
      return db.selectFrom('users').select(userColumns).where('id', '=', id).forUpdate().executeTakeFirst();
    },

    passwordHashOf(db: Executor, id: string) {
      return db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirst();
    },

    listUsers(db: Executor) {
      return db.selectFrom('users').select(userColumns).orderBy('username').execute();
    },

    teamIdsOf(db: Executor, userIds: readonly string[]) {
      if (userIds.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('team_members')
        .select(['user_id', 'team_id'])
        .where('user_id', 'in', userIds)
        .execute();
    },

    insertUser(
      db: Executor,
      values: {
        username: string;
        displayName: string;
        role: string;
        passwordHash: string;
        mustChangePassword: boolean;
      },
    ) {
      return db
        .insertInto('users')
        .values({
          username: values.username,
          display_name: values.displayName,
          role: values.role,
          password_hash: values.passwordHash,
          must_change_password: values.mustChangePassword,
        })
        .onConflict((oc) => oc.column('username').doNothing())
        .returning(userColumns)
        .executeTakeFirst();
    },

    updateUser(
      db: Executor,
      id: string,
      patch: Partial<{
        display_name: string;
        role: string;
        password_hash: string;
        must_change_password: boolean;
        disabled_at: Date | null;
      }>,
    ) {
      return db
        .updateTable('users')
        .set({ ...patch, updated_at: sql<Date>`now()` })
        .where('id', '=', id)
        .returning(userColumns)
        .executeTakeFirst();
    },

    countActiveAdmins(db: Executor) {
      return db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('role', '=', 'admin')
        .where('disabled_at', 'is', null)
        .executeTakeFirstOrThrow();
    },

    insertSession(
      db: Executor,
      values: {
        tokenHash: Buffer;
        userId: string;
        expiresAt: Date;
        ip: string | null;
        userAgent: string | null;
      },
    ) {
      return db
        .insertInto('sessions')
        .values({
          token_hash: values.tokenHash,
          user_id: values.userId,
          expires_at: values.expiresAt,
          ip: values.ip,
          user_agent: values.userAgent,
        })
        .returning(['id', 'expires_at'])
        .executeTakeFirstOrThrow();
    },

    /** The live session for a token, with its user; null once revoked, idle too long or expired. */
    findLiveSession(db: Executor, tokenHash: Buffer, idleMinutes: number) {
      return db
        .selectFrom('sessions')
        .innerJoin('users', 'users.id', 'sessions.user_id')
        .select(['sessions.id as session_id', 'sessions.last_seen_at', 'sessions.expires_at', ...userColumns])
        .where('sessions.token_hash', '=', tokenHash)
        .where('sessions.revoked_at', 'is', null)
        .where('sessions.expires_at', '>', sql<Date>`now()`)
        .where('sessions.last_seen_at', '>', sql<Date>`now() - make_interval(mins => ${idleMinutes})`)
        .where('users.disabled_at', 'is', null)
        .executeTakeFirst();
    },

    touchSession(db: Executor, sessionId: string) {
      return db
        .updateTable('sessions')
        .set({ last_seen_at: sql<Date>`now()` })
        .where('id', '=', sessionId)
        .execute();
    },

    revokeSession(db: Executor, sessionId: string) {
      return db
        .updateTable('sessions')
        .set({ revoked_at: sql<Date>`now()` })
        .where('id', '=', sessionId)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
    },

    revokeSessionsOfUser(db: Executor, userId: string, exceptSessionId?: string) {
      let q = db
        .updateTable('sessions')
        .set({ revoked_at: sql<Date>`now()` })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null);
      if (exceptSessionId) q = q.where('id', '!=', exceptSessionId);
      return q.execute();
    },

    /** Ends every open session (after a restore: sessions ended since the backup must not revive). */
    revokeAllSessions(db: Executor) {
      return db
        .updateTable('sessions')
        .set({ revoked_at: sql<Date>`now()` })
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
    },

    deleteDeadSessions(db: Executor, olderThanDays: number) {
      return db
        .deleteFrom('sessions')
        .where((eb) =>
          eb.or([
            eb('expires_at', '<', sql<Date>`now() - make_interval(days => ${olderThanDays})`),
            eb('revoked_at', '<', sql<Date>`now() - make_interval(days => ${olderThanDays})`),
          ]),
        )
        .executeTakeFirst();
    },

    /** Seconds until each key is unlocked (0 = not locked). */
    async lockState(db: Executor, keys: readonly string[]) {
      const rows = await db
        .selectFrom('login_throttle')
        .select([
          'key',
          'failures',
          sql<number>`greatest(0, ceil(extract(epoch from (locked_until - now()))))::int`.as('seconds_left'),
        ])
        .where('key', 'in', keys)
        .execute();
      return new Map(rows.map((r) => [r.key, { failures: r.failures, secondsLeft: r.seconds_left ?? 0 }]));
    },

    /**
     * Count one failure for the key and, past the limit, lock it for base * 2^(failures - limit)
     * seconds (capped). Returns the new failure count and lock length.
     */
    async recordFailure(db: Executor, key: string, limit: number, baseSeconds: number, maxSeconds: number) {
      const row = await sql<{ failures: number; lock_seconds: number }>`
        insert into login_throttle as t (key, failures, last_failure_at)
        values (${key}, 1, now())
        on conflict (key) do update set
          failures = case
            -- a quiet day forgives old failures
            when t.last_failure_at < now() - interval '1 day' then 1
            else t.failures + 1 end,
          last_failure_at = now()
        returning failures, 0 as lock_seconds`.execute(db);
      const failures = row.rows[0]?.failures ?? 1;
      if (failures < limit) return { failures, lockSeconds: 0 };
      const lockSeconds = Math.min(maxSeconds, baseSeconds * 2 ** Math.min(30, failures - limit));
      await db
        .updateTable('login_throttle')
        .set({ locked_until: sql<Date>`now() + make_interval(secs => ${lockSeconds})` })
        .where('key', '=', key)
        .execute();
      return { failures, lockSeconds };
    },

    clearFailures(db: Executor, key: string) {
      return db.deleteFrom('login_throttle').where('key', '=', key).execute();
    },
  };
}

export type IdentityRepository = ReturnType<typeof createIdentityRepository>;
