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
  'users.auth_source',
  'users.totp_enabled_at',
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
      return db
        .selectFrom('users')
        .select(['password_hash', 'auth_source'])
        .where('id', '=', id)
        .executeTakeFirst();
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
        authSource?: 'local' | 'ldap';
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
          auth_source: values.authSource ?? 'local',
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

    // ---- directory (LDAP) team membership ----

    teamsByName(db: Executor, names: readonly string[]) {
      if (names.length === 0) return Promise.resolve([]);
      return db
        .selectFrom('teams')
        .select(['id', 'name'])
        .where(
          sql<string>`lower(name)`,
          'in',
          names.map((n) => n.toLowerCase()),
        )
        .execute();
    },

    addTeamMember(db: Executor, teamId: string, userId: string) {
      return db
        .insertInto('team_members')
        .values({ team_id: teamId, user_id: userId })
        .onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing())
        .returning('team_id')
        .executeTakeFirst();
    },

    removeTeamMember(db: Executor, teamId: string, userId: string) {
      return db
        .deleteFrom('team_members')
        .where('team_id', '=', teamId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
    },

    // ---- sessions of a user ----

    listLiveSessions(db: Executor, userId: string, idleMinutes: number) {
      return db
        .selectFrom('sessions')
        .select(['id', 'created_at', 'last_seen_at', 'expires_at', 'ip', 'user_agent'])
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', sql<Date>`now()`)
        .where('last_seen_at', '>', sql<Date>`now() - make_interval(mins => ${idleMinutes})`)
        .orderBy('last_seen_at', 'desc')
        .execute();
    },

    findSession(db: Executor, id: string) {
      return db
        .selectFrom('sessions')
        .select(['id', 'user_id', 'revoked_at'])
        .where('id', '=', id)
        .executeTakeFirst();
    },

    // ---- 2FA ----

    totpOf(db: Executor, userId: string) {
      return db
        .selectFrom('users')
        .select([
          'id',
          'username',
          'role',
          'totp_secret_enc',
          'totp_enabled_at',
          'totp_last_step',
          'password_hash',
        ])
        .where('id', '=', userId)
        .executeTakeFirst();
    },

    setTotp(
      db: Executor,
      userId: string,
      values: { secretEnc: string | null; enabledAt: Date | null; lastStep: number | null },
    ) {
      return db
        .updateTable('users')
        .set({
          totp_secret_enc: values.secretEnc,
          totp_enabled_at: values.enabledAt,
          totp_last_step: values.lastStep,
          updated_at: sql<Date>`now()`,
        })
        .where('id', '=', userId)
        .executeTakeFirst();
    },

    /** Accepts a step only if it is newer than the last one (no replay), atomically. */
    advanceTotpStep(db: Executor, userId: string, step: number) {
      return db
        .updateTable('users')
        .set({ totp_last_step: step })
        .where('id', '=', userId)
        .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
        .executeTakeFirst();
    },

    async replaceRecoveryCodes(db: Executor, userId: string, hashes: string[]) {
      await db.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute();
      if (hashes.length > 0) {
        await db
          .insertInto('user_recovery_codes')
          .values(hashes.map((code_hash) => ({ user_id: userId, code_hash })))
          .execute();
      }
    },

    unusedRecoveryCodes(db: Executor, userId: string) {
      return db
        .selectFrom('user_recovery_codes')
        .select(['id', 'code_hash'])
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .execute();
    },

    useRecoveryCode(db: Executor, id: string) {
      return db
        .updateTable('user_recovery_codes')
        .set({ used_at: sql<Date>`now()` })
        .where('id', '=', id)
        .where('used_at', 'is', null)
        .executeTakeFirst();
    },

    insertChallenge(
      db: Executor,
      values: {
        tokenHash: Buffer;
        userId: string;
        ip: string | null;
        userAgent: string | null;
        expiresAt: Date;
      },
    ) {
      return db
        .insertInto('login_challenges')
        .values({
          token_hash: values.tokenHash,
          user_id: values.userId,
          ip: values.ip,
          user_agent: values.userAgent,
          expires_at: values.expiresAt,
        })
        .execute();
    },

    findChallenge(db: Executor, tokenHash: Buffer) {
      return db
        .selectFrom('login_challenges')
        .select(['token_hash', 'user_id', 'attempts', 'expires_at'])
        .where('token_hash', '=', tokenHash)
        .where('expires_at', '>', sql<Date>`now()`)
        .forUpdate()
        .executeTakeFirst();
    },

    countChallengeFailure(db: Executor, tokenHash: Buffer) {
      return db
        .updateTable('login_challenges')
        .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
        .where('token_hash', '=', tokenHash)
        .returning('attempts')
        .executeTakeFirst();
    },

    deleteChallenge(db: Executor, tokenHash: Buffer) {
      return db.deleteFrom('login_challenges').where('token_hash', '=', tokenHash).execute();
    },

    deleteExpiredChallenges(db: Executor) {
      return db
        .deleteFrom('login_challenges')
        .where('expires_at', '<', sql<Date>`now()`)
        .execute();
    },

    // ---- password history ----

    addPasswordHistory(db: Executor, userId: string, passwordHash: string) {
      return db
        .insertInto('password_history')
        .values({ user_id: userId, password_hash: passwordHash })
        .execute();
    },

    recentPasswordHashes(db: Executor, userId: string, n: number) {
      return db
        .selectFrom('password_history')
        .select('password_hash')
        .where('user_id', '=', userId)
        .orderBy('id', 'desc')
        .limit(n)
        .execute();
    },

    /** Keeps the newest `keep` history entries of a user. */
    trimPasswordHistory(db: Executor, userId: string, keep: number) {
      return db
        .deleteFrom('password_history')
        .where('user_id', '=', userId)
        .where(
          'id',
          'not in',
          db
            .selectFrom('password_history')
            .select('id')
            .where('user_id', '=', userId)
            .orderBy('id', 'desc')
            .limit(keep),
        )
        .execute();
    },
  };
}

export type IdentityRepository = ReturnType<typeof createIdentityRepository>;
