// Users, login, sessions. Holds the rules; SQL lives in identity.repository.ts.
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../platform/db/database.ts';
import type { AuditActor, AuditTrail } from '../../platform/audit.ts';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../../platform/errors.ts';
import type { IdentityRepository } from './identity.repository.ts';
import {
  burnPasswordCheck,
  checkPasswordPolicy,
  generatePassword,
  hashPassword,
  verifyPassword,
} from './passwords.ts';
import { authorize, isRole, type Actor, type Role } from './permissions.ts';

export interface ClientContext {
  ip: string | null;
  userAgent: string | null;
}

export interface IdentitySettings {
  sessionIdleMinutes: number;
  sessionAbsoluteHours: number;
  loginMaxAttemptsPerAccount: number;
  loginMaxAttemptsPerIp: number;
  loginLockoutBaseSeconds: number;
  loginLockoutMaxSeconds: number;
}

export interface User {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  teamIds: string[];
  mustChangePassword: boolean;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

const FIRST_ADMIN_LOCK_KEY = 727_003;
/** Sessions are touched at most this often, so reading pages is not a write per request. */
const TOUCH_INTERVAL_MS = 60_000;

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function normaliseUsername(username: string): string {
  return username.trim().toLowerCase();
}

type UserRow = NonNullable<Awaited<ReturnType<IdentityRepository['findUserById']>>>;

function toUser(row: UserRow, teamIds: string[]): User {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    role: row.role as Role,
    teamIds,
    mustChangePassword: row.must_change_password,
    disabled: row.disabled_at !== null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function auditActorOf(actor: Actor): AuditActor {
  return { id: actor.userId, name: actor.username, ip: actor.ip, userAgent: actor.userAgent };
}

const SYSTEM_ACTOR: AuditActor = { id: null, name: 'system', ip: null, userAgent: null };

export function createIdentityService(deps: {
  db: Database;
  repo: IdentityRepository;
  auditTrail: AuditTrail;
  settings: IdentitySettings;
}) {
  const { db, repo, auditTrail, settings } = deps;

  async function withTeams(rows: UserRow[]): Promise<User[]> {
    const memberships = await repo.teamIdsOf(
      db,
      rows.map((r) => r.id),
    );
    const byUser = new Map<string, string[]>();
    for (const m of memberships) byUser.set(m.user_id, [...(byUser.get(m.user_id) ?? []), m.team_id]);
    return rows.map((r) => toUser(r, byUser.get(r.id) ?? []));
  }

  async function userById(id: string): Promise<User> {
    const row = await repo.findUserById(db, id);
    if (!row) throw new NotFoundError('user');
    const [user] = await withTeams([row]);
    return user!;
  }

  function validateUsername(username: string): string {
    const u = normaliseUsername(username);
    if (!/^[a-z0-9][a-z0-9._@-]{1,63}$/.test(u)) {
      throw new BadRequestError(
        'username: 2–64 characters: letters, digits, and . _ @ - (not first)',
        'username',
      );
    }
    return u;
  }

  function validateNewPassword(password: string, field = 'password'): void {
    const problem = checkPasswordPolicy(password);
    if (problem) throw new BadRequestError(`${field}: ${problem}`, field);
  }

  return {
    async login(input: { username: string; password: string }, client: ClientContext) {
      const username = normaliseUsername(input.username);
      const accountKey = `account:${username}`;
      const ipKey = `ip:${client.ip ?? 'unknown'}`;
      const anonymous: AuditActor = { id: null, name: username, ip: client.ip, userAgent: client.userAgent };

      const locks = await repo.lockState(db, [accountKey, ipKey]);
      const waitSeconds = Math.max(
        locks.get(accountKey)?.secondsLeft ?? 0,
        locks.get(ipKey)?.secondsLeft ?? 0,
      );
      if (waitSeconds > 0) {
        await db.transaction().execute((trx) =>
          auditTrail.record(trx, anonymous, {
            action: 'auth.login',
            outcome: 'denied',
            details: { reason: 'locked', retryAfterSeconds: waitSeconds },
          }),
        );
        throw new TooManyRequestsError(
          `Too many failed sign-ins. Try again in ${waitSeconds} seconds.`,
          waitSeconds,
          'login_locked',
        );
      }

      const found = await repo.findUserByUsername(db, username);
      const passwordOk = found
        ? await verifyPassword(found.password_hash, input.password)
        : (await burnPasswordCheck(input.password), false);

      if (!found || !passwordOk) {
        const lock = await db.transaction().execute(async (trx) => {
          const account = await repo.recordFailure(
            trx,
            accountKey,
            settings.loginMaxAttemptsPerAccount,
            settings.loginLockoutBaseSeconds,
            settings.loginLockoutMaxSeconds,
          );
          const ip = await repo.recordFailure(
            trx,
            ipKey,
            settings.loginMaxAttemptsPerIp,
            settings.loginLockoutBaseSeconds,
            settings.loginLockoutMaxSeconds,
          );
          await auditTrail.record(trx, anonymous, {
            action: 'auth.login',
            outcome: 'failure',
            targetType: found ? 'user' : null,
            targetId: found?.id ?? null,
            details: { reason: found ? 'wrong_password' : 'unknown_user', failures: account.failures },
          });
          const lockSeconds = Math.max(account.lockSeconds, ip.lockSeconds);
          if (lockSeconds > 0) {
            await auditTrail.record(trx, anonymous, {
              action: 'auth.lockout',
              targetType: account.lockSeconds > 0 ? 'account' : 'ip',
              targetId: account.lockSeconds > 0 ? username : client.ip,
              details: { lockSeconds, failures: account.lockSeconds > 0 ? account.failures : ip.failures },
            });
          }
          return lockSeconds;
        });
        if (lock > 0) {
          throw new TooManyRequestsError(
            `Too many failed sign-ins. Try again in ${lock} seconds.`,
            lock,
            'login_locked',
          );
        }
        throw new UnauthorizedError('Wrong username or password.');
      }

      if (found.disabled_at) {
        await db.transaction().execute((trx) =>
          auditTrail.record(trx, anonymous, {
            action: 'auth.login',
            outcome: 'denied',
            targetType: 'user',
            targetId: found.id,
            details: { reason: 'disabled' },
          }),
        );
        throw new ForbiddenError('This account is disabled. Ask an administrator.');
      }

      const token = randomBytes(32).toString('base64url');
      const expiresAt = new Date(Date.now() + settings.sessionAbsoluteHours * 3_600_000);
      const session = await db.transaction().execute(async (trx) => {
        await repo.clearFailures(trx, accountKey);
        const s = await repo.insertSession(trx, {
          tokenHash: hashToken(token),
          userId: found.id,
          expiresAt,
          ip: client.ip,
          userAgent: client.userAgent,
        });
        await auditTrail.record(
          trx,
          { id: found.id, name: found.username, ip: client.ip, userAgent: client.userAgent },
          { action: 'auth.login', targetType: 'session', targetId: s.id },
        );
        return s;
      });
      return { token, expiresAt: session.expires_at, user: await userById(found.id) };
    },

    /** The actor for a session token, or null if the session is not live. */
    async authenticate(token: string, client: ClientContext): Promise<Actor | null> {
      const row = await repo.findLiveSession(db, hashToken(token), settings.sessionIdleMinutes);
      if (!row) return null;
      if (Date.now() - row.last_seen_at.getTime() > TOUCH_INTERVAL_MS)
        await repo.touchSession(db, row.session_id);
      const teams = await repo.teamIdsOf(db, [row.id]);
      const role = row.role;
      if (!isRole(role)) return null;
      return {
        userId: row.id,
        username: row.username,
        displayName: row.display_name,
        role,
        teamIds: teams.map((t) => t.team_id),
        sessionId: row.session_id,
        ip: client.ip,
        userAgent: client.userAgent,
      };
    },

    async logout(actor: Actor) {
      await db.transaction().execute(async (trx) => {
        await repo.revokeSession(trx, actor.sessionId);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'auth.logout',
          targetType: 'session',
          targetId: actor.sessionId,
        });
      });
    },

    me(actor: Actor): Promise<User> {
      return userById(actor.userId);
    },

    async changeOwnPassword(actor: Actor, input: { currentPassword: string; newPassword: string }) {
      validateNewPassword(input.newPassword, 'newPassword');
      const row = await repo.passwordHashOf(db, actor.userId);
      if (!row || !(await verifyPassword(row.password_hash, input.currentPassword))) {
        throw new BadRequestError('currentPassword: wrong password', 'currentPassword');
      }
      if (await verifyPassword(row.password_hash, input.newPassword)) {
        throw new BadRequestError('newPassword: must differ from the current password', 'newPassword');
      }
      const passwordHash = await hashPassword(input.newPassword);
      await db.transaction().execute(async (trx) => {
        await repo.updateUser(trx, actor.userId, {
          password_hash: passwordHash,
          must_change_password: false,
        });
        // Other devices signed in with the old password are signed out.
        await repo.revokeSessionsOfUser(trx, actor.userId, actor.sessionId);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'user.password_change',
          targetType: 'user',
          targetId: actor.userId,
        });
      });
    },

    async listUsers(actor: Actor): Promise<User[]> {
      authorize(actor, 'users.read');
      return withTeams(await repo.listUsers(db));
    },

    async getUser(actor: Actor, id: string): Promise<User> {
      authorize(actor, 'users.read');
      return userById(id);
    },

    async createUser(
      actor: Actor,
      input: { username: string; displayName: string; role: string; password?: string | undefined },
    ): Promise<{ user: User; oneTimePassword: string | null }> {
      authorize(actor, 'users.manage');
      const username = validateUsername(input.username);
      if (!isRole(input.role)) throw new BadRequestError('role: unknown role', 'role');
      if (input.password !== undefined) validateNewPassword(input.password);
      const oneTimePassword = input.password === undefined ? generatePassword() : null;
      const passwordHash = await hashPassword(input.password ?? oneTimePassword!);
      const row = await db.transaction().execute(async (trx) => {
        const created = await repo.insertUser(trx, {
          username,
          displayName: input.displayName.trim(),
          role: input.role,
          passwordHash,
          mustChangePassword: true,
        });
        if (!created) throw new ConflictError(`username: "${username}" is taken`, { field: 'username' });
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'user.create',
          targetType: 'user',
          targetId: created.id,
          details: { username, role: input.role },
        });
        return created;
      });
      return { user: (await withTeams([row]))[0]!, oneTimePassword };
    },

    async updateUser(
      actor: Actor,
      id: string,
      patch: { displayName?: string | undefined; role?: string | undefined; disabled?: boolean | undefined },
    ): Promise<User> {
      authorize(actor, 'users.manage');
      if (patch.role !== undefined && !isRole(patch.role))
        throw new BadRequestError('role: unknown role', 'role');
      await db.transaction().execute(async (trx) => {
        // One admin at a time may change admins, so "the last admin" check cannot race.
        await sql`select pg_advisory_xact_lock(${FIRST_ADMIN_LOCK_KEY})`.execute(trx);
        const before = await repo.findUserByIdForUpdate(trx, id);
        if (!before) throw new NotFoundError('user');
        const losesAdmin =
          before.role === 'admin' &&
          before.disabled_at === null &&
          ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true);
        if (losesAdmin && (await repo.countActiveAdmins(trx)).n <= 1) {
          throw new ConflictError('This is the last active admin; make another admin first.');
        }
        const changes: Record<string, unknown> = {};
        if (patch.displayName !== undefined && patch.displayName.trim() !== before.display_name) {
          changes.displayName = { from: before.display_name, to: patch.displayName.trim() };
        }
        if (patch.role !== undefined && patch.role !== before.role)
          changes.role = { from: before.role, to: patch.role };
        if (patch.disabled !== undefined && patch.disabled !== (before.disabled_at !== null)) {
          changes.disabled = { from: before.disabled_at !== null, to: patch.disabled };
        }
        if (Object.keys(changes).length === 0) return;
        await repo.updateUser(trx, id, {
          ...(patch.displayName !== undefined ? { display_name: patch.displayName.trim() } : {}),
          ...(patch.role !== undefined ? { role: patch.role } : {}),
          ...(patch.disabled !== undefined ? { disabled_at: patch.disabled ? new Date() : null } : {}),
        });
        if (patch.disabled === true || changes.role) await repo.revokeSessionsOfUser(trx, id);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: changes.role ? 'user.role_change' : 'user.update',
          targetType: 'user',
          targetId: id,
          details: changes,
        });
      });
      return userById(id);
    },

    /** Sets a new one-time password (returned once) and signs the user out everywhere. */
    async resetPassword(actor: Actor, id: string): Promise<{ oneTimePassword: string }> {
      authorize(actor, 'users.manage');
      const oneTimePassword = generatePassword();
      const passwordHash = await hashPassword(oneTimePassword);
      await db.transaction().execute(async (trx) => {
        const updated = await repo.updateUser(trx, id, {
          password_hash: passwordHash,
          must_change_password: true,
        });
        if (!updated) throw new NotFoundError('user');
        await repo.revokeSessionsOfUser(trx, id);
        await repo.clearFailures(trx, `account:${updated.username}`);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'user.password_reset',
          targetType: 'user',
          targetId: id,
        });
      });
      return { oneTimePassword };
    },

    /**
     * On first start: if no active admin exists, create "admin" with a one-time password.
     * Safe with several replicas starting at once (advisory lock); returns null when an admin exists.
     */
    async ensureFirstAdmin(
      presetPassword?: string,
    ): Promise<{ username: string; password: string; generated: boolean } | null> {
      const password = presetPassword ?? generatePassword();
      const passwordHash = await hashPassword(password);
      return db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${FIRST_ADMIN_LOCK_KEY})`.execute(trx);
        if ((await repo.countActiveAdmins(trx)).n > 0) return null;
        let username = 'admin';
        for (let i = 2; await repo.findUserByUsername(trx, username); i++) username = `admin${i}`;
        const created = await repo.insertUser(trx, {
          username,
          displayName: 'Administrator',
          role: 'admin',
          passwordHash,
          mustChangePassword: true,
        });
        if (!created) throw new Error('could not create the first admin');
        await auditTrail.record(trx, SYSTEM_ACTOR, {
          action: 'user.create',
          targetType: 'user',
          targetId: created.id,
          details: { username, role: 'admin', reason: 'first_start' },
        });
        return { username, password, generated: presetPassword === undefined };
      });
    },

    /** `parley admin create`: an admin account from the command line. */
    async createAdminFromCli(input: {
      username: string;
      displayName?: string | undefined;
      password?: string | undefined;
    }) {
      const username = validateUsername(input.username);
      if (input.password !== undefined) validateNewPassword(input.password);
      const password = input.password ?? generatePassword();
      const passwordHash = await hashPassword(password);
      const created = await db.transaction().execute(async (trx) => {
        const row = await repo.insertUser(trx, {
          username,
          displayName: input.displayName ?? username,
          role: 'admin',
          passwordHash,
          mustChangePassword: input.password === undefined,
        });
        if (!row) throw new ConflictError(`username: "${username}" is taken`, { field: 'username' });
        await auditTrail.record(
          trx,
          { ...SYSTEM_ACTOR, name: 'cli' },
          {
            action: 'user.create',
            targetType: 'user',
            targetId: row.id,
            details: { username, role: 'admin', reason: 'cli' },
          },
        );
        return row;
      });
      return {
        user: (await withTeams([created]))[0]!,
        password: input.password === undefined ? password : null,
      };
    },

    pruneSessions(olderThanDays = 30) {
      return repo.deleteDeadSessions(db, olderThanDays);
    },
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
