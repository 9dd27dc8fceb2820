// Users, login, sessions. Holds the rules; SQL lives in identity.repository.ts.
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Config } from '../../config/config.ts';
import type { Database, Executor } from '../../platform/db/database.ts';
import type { AuditActor, AuditTrail } from '../../platform/audit.ts';
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../../platform/errors.ts';
import type { KeyRing } from '../../platform/crypto/keyring.ts';
import {
  base32Encode,
  matchTotp,
  newRecoveryCodes,
  newTotpSecret,
  normaliseRecoveryCode,
  otpauthUrl,
} from '../../platform/crypto/totp.ts';
import type { Directory, DirectoryUser } from './directory.ts';
import type { IdentityRepository } from './identity.repository.ts';
import {
  burnPasswordCheck,
  checkPasswordPolicy,
  generatePassword,
  hashPassword,
  verifyPassword,
} from './passwords.ts';
import { authorize, isRole, roleHas, type Actor, type Role } from './permissions.ts';

export interface ClientContext {
  ip: string | null;
  userAgent: string | null;
}

export type IdentitySettings = Pick<
  Config,
  | 'sessionIdleMinutes'
  | 'sessionAbsoluteHours'
  | 'loginMaxAttemptsPerAccount'
  | 'loginMaxAttemptsPerIp'
  | 'loginLockoutBaseSeconds'
  | 'loginLockoutMaxSeconds'
  | 'passwordMinLength'
  | 'passwordHistory'
>;

/** What the identity service needs to know of the security policy. */
export interface SecurityPolicy {
  mfaRequiredFor(role: Role): Promise<boolean>;
}

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

/** A sign-in either gives a session, or (2FA) a challenge for the second step. */
export type LoginResult =
  | { kind: 'session'; token: string; expiresAt: Date; user: User }
  | { kind: 'mfa'; challenge: string; expiresAt: Date };

const CHALLENGE_TTL_MS = 5 * 60_000;
const CHALLENGE_MAX_ATTEMPTS = 5;
const TOTP_ISSUER = 'Parley';

export interface User {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  teamIds: string[];
  mustChangePassword: boolean;
  disabled: boolean;
  authSource: 'local' | 'ldap';
  totpEnabled: boolean;
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
    authSource: row.auth_source as 'local' | 'ldap',
    totpEnabled: row.totp_enabled_at !== null,
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
  keyRing: KeyRing | null;
  policy: SecurityPolicy;
  /** LDAP / Active Directory, when configured. */
  directory?: Directory | null;
  /** Team names the directory manages (LDAP_TEAM_MAP values): membership follows the groups. */
  directoryTeams?: readonly string[];
  /** After a committed change of a user's role, teams or disabled state: open sockets follow. */
  onAccessChanged?: (userIds: string[]) => void;
}) {
  const { db, repo, auditTrail, settings, keyRing, policy } = deps;
  const directory = deps.directory ?? null;
  const directoryTeams = deps.directoryTeams ?? [];
  const LDAP_ACTOR: AuditActor = { id: null, name: 'ldap', ip: null, userAgent: null };

  /** Creates or updates the local record of a directory user: role, name, mapped teams. */
  async function provisionDirectoryUser(
    username: string,
    du: DirectoryUser & { role: Role },
    existing: UserRow | undefined,
  ): Promise<string> {
    return db.transaction().execute(async (trx) => {
      let userId: string;
      if (!existing) {
        const created = await repo.insertUser(trx, {
          username,
          displayName: du.displayName.slice(0, 200),
          role: du.role,
          passwordHash: '!directory-account',
          mustChangePassword: false,
          authSource: 'ldap',
        });
        if (!created) throw new ConflictError(`username: "${username}" is taken`);
        userId = created.id;
        await auditTrail.record(trx, LDAP_ACTOR, {
          action: 'user.create',
          targetType: 'user',
          targetId: userId,
          details: { username, role: du.role, source: 'ldap' },
        });
      } else {
        userId = existing.id;
        const changes: Record<string, unknown> = {};
        if (existing.role !== du.role) changes.role = { from: existing.role, to: du.role };
        if (existing.display_name !== du.displayName)
          changes.displayName = { from: existing.display_name, to: du.displayName };
        if (Object.keys(changes).length > 0) {
          await repo.updateUser(trx, userId, { role: du.role, display_name: du.displayName.slice(0, 200) });
          await auditTrail.record(trx, LDAP_ACTOR, {
            action: changes.role ? 'user.role_change' : 'user.update',
            targetType: 'user',
            targetId: userId,
            details: { ...changes, source: 'ldap' },
          });
        }
      }
      const managed = await repo.teamsByName(trx, directoryTeams);
      const wanted = new Set(du.teams.map((n) => n.toLowerCase()));
      for (const team of managed) {
        if (wanted.has(team.name.toLowerCase())) {
          if (await repo.addTeamMember(trx, team.id, userId)) {
            await auditTrail.record(trx, LDAP_ACTOR, {
              action: 'team.member_add',
              targetType: 'team',
              targetId: team.id,
              details: { userId, source: 'ldap' },
            });
          }
        } else if ((await repo.removeTeamMember(trx, team.id, userId)).numDeletedRows > 0n) {
          await auditTrail.record(trx, LDAP_ACTOR, {
            action: 'team.member_remove',
            targetType: 'team',
            targetId: team.id,
            details: { userId, source: 'ldap' },
          });
        }
      }
      return userId;
    });
  }

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
    const problem = checkPasswordPolicy(password, settings.passwordMinLength);
    if (problem) throw new BadRequestError(`${field}: ${problem}`, field);
  }

  /** Refuses the current password and the last PASSWORD_HISTORY ones. */
  async function refuseReuse(userId: string, currentHash: string, password: string): Promise<void> {
    if (await verifyPassword(currentHash, password)) {
      throw new BadRequestError('newPassword: must differ from the current password', 'newPassword');
    }
    if (settings.passwordHistory === 0) return;
    for (const old of await repo.recentPasswordHashes(db, userId, settings.passwordHistory)) {
      if (await verifyPassword(old.password_hash, password)) {
        throw new BadRequestError(
          `newPassword: must differ from your last ${settings.passwordHistory} passwords`,
          'newPassword',
        );
      }
    }
  }

  /** Keeps the replaced hash for the reuse check (inside the caller's transaction). */
  async function rememberPassword(trx: Executor, userId: string, oldHash: string): Promise<void> {
    if (settings.passwordHistory === 0) return;
    await repo.addPasswordHistory(trx, userId, oldHash);
    await repo.trimPasswordHistory(trx, userId, settings.passwordHistory);
  }

  function requireKeyRing(): KeyRing {
    if (!keyRing) {
      throw new ConflictError(
        'Two-factor sign-in needs PARLEY_ENCRYPTION_KEYS to be configured by the operator.',
      );
    }
    return keyRing;
  }

  const totpContext = (userId: string) => `users.totp:${userId}`;

  async function newSession(
    user: { id: string; username: string },
    client: ClientContext,
    details: Record<string, unknown>,
  ): Promise<{ token: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + settings.sessionAbsoluteHours * 3_600_000);
    const session = await db.transaction().execute(async (trx) => {
      await repo.clearFailures(trx, `account:${user.username}`);
      const s = await repo.insertSession(trx, {
        tokenHash: hashToken(token),
        userId: user.id,
        expiresAt,
        ip: client.ip,
        userAgent: client.userAgent,
      });
      await auditTrail.record(
        trx,
        { id: user.id, name: user.username, ip: client.ip, userAgent: client.userAgent },
        { action: 'auth.login', targetType: 'session', targetId: s.id, details },
      );
      return s;
    });
    return { token, expiresAt: session.expires_at };
  }

  async function countLoginFailure(
    username: string,
    client: ClientContext,
    audit: { targetId: string | null; reason: string },
  ): Promise<void> {
    const anonymous: AuditActor = { id: null, name: username, ip: client.ip, userAgent: client.userAgent };
    const lock = await db.transaction().execute(async (trx) => {
      const account = await repo.recordFailure(
        trx,
        `account:${username}`,
        settings.loginMaxAttemptsPerAccount,
        settings.loginLockoutBaseSeconds,
        settings.loginLockoutMaxSeconds,
      );
      const ip = await repo.recordFailure(
        trx,
        `ip:${client.ip ?? 'unknown'}`,
        settings.loginMaxAttemptsPerIp,
        settings.loginLockoutBaseSeconds,
        settings.loginLockoutMaxSeconds,
      );
      await auditTrail.record(trx, anonymous, {
        action: 'auth.login',
        outcome: 'failure',
        targetType: audit.targetId ? 'user' : null,
        targetId: audit.targetId,
        details: { reason: audit.reason, failures: account.failures },
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
  }

  async function refuseIfLocked(username: string, client: ClientContext): Promise<void> {
    const accountKey = `account:${username}`;
    const ipKey = `ip:${client.ip ?? 'unknown'}`;
    const locks = await repo.lockState(db, [accountKey, ipKey]);
    const waitSeconds = Math.max(locks.get(accountKey)?.secondsLeft ?? 0, locks.get(ipKey)?.secondsLeft ?? 0);
    if (waitSeconds > 0) {
      await db.transaction().execute((trx) =>
        auditTrail.record(
          trx,
          { id: null, name: username, ip: client.ip, userAgent: client.userAgent },
          {
            action: 'auth.login',
            outcome: 'denied',
            details: { reason: 'locked', retryAfterSeconds: waitSeconds },
          },
        ),
      );
      throw new TooManyRequestsError(
        `Too many failed sign-ins. Try again in ${waitSeconds} seconds.`,
        waitSeconds,
        'login_locked',
      );
    }
  }

  return {
    async login(input: { username: string; password: string }, client: ClientContext): Promise<LoginResult> {
      const username = normaliseUsername(input.username);
      await refuseIfLocked(username, client);

      const found = await repo.findUserByUsername(db, username);
      if (directory && (!found || found.auth_source === 'ldap')) {
        const du = await directory.authenticate(username, input.password);
        if (!du) {
          await countLoginFailure(username, client, {
            targetId: found?.id ?? null,
            reason: 'directory_rejected',
          });
          throw new UnauthorizedError('Wrong username or password.');
        }
        if (!du.role || !/^[a-z0-9][a-z0-9._@-]{1,63}$/.test(username)) {
          await db.transaction().execute((trx) =>
            auditTrail.record(
              trx,
              { id: null, name: username, ip: client.ip, userAgent: client.userAgent },
              {
                action: 'auth.login',
                outcome: 'denied',
                targetType: found ? 'user' : null,
                targetId: found?.id ?? null,
                details: { reason: du.role ? 'unusable_username' : 'no_mapped_group', source: 'ldap' },
              },
            ),
          );
          throw new ForbiddenError('Your directory account is not in any group that may use Parley.');
        }
        const userId = await provisionDirectoryUser(username, { ...du, role: du.role }, found);
        // The directory may have changed the role or the teams: the user's open sockets follow.
        if (found) deps.onAccessChanged?.([userId]);
        const user = await repo.findUserByUsername(db, username);
        if (!user || user.id !== userId) throw new Error('directory user vanished');
        return this.completePasswordStep(user, client, { source: 'ldap' });
      }
      const passwordOk =
        found && found.auth_source === 'local'
          ? await verifyPassword(found.password_hash, input.password)
          : (await burnPasswordCheck(input.password), false);

      if (!found || !passwordOk) {
        await countLoginFailure(username, client, {
          targetId: found?.id ?? null,
          reason: !found
            ? 'unknown_user'
            : found.auth_source !== 'local'
              ? 'not_a_local_account'
              : 'wrong_password',
        });
        throw new UnauthorizedError('Wrong username or password.');
      }
      return this.completePasswordStep(found, client);
    },

    /** After the password (or the directory) said yes: disabled check, then 2FA or a session. */
    async completePasswordStep(
      found: { id: string; username: string; disabled_at: Date | null; totp_enabled_at: Date | null },
      client: ClientContext,
      details: Record<string, unknown> = {},
    ): Promise<LoginResult> {
      if (found.disabled_at) {
        await db.transaction().execute((trx) =>
          auditTrail.record(
            trx,
            { id: null, name: found.username, ip: client.ip, userAgent: client.userAgent },
            {
              action: 'auth.login',
              outcome: 'denied',
              targetType: 'user',
              targetId: found.id,
              details: { reason: 'disabled' },
            },
          ),
        );
        throw new ForbiddenError('This account is disabled. Ask an administrator.');
      }
      if (found.totp_enabled_at) {
        const challenge = randomBytes(32).toString('base64url');
        const expiresAt = new Date(Date.now() + CHALLENGE_TTL_MS);
        await repo.insertChallenge(db, {
          tokenHash: hashToken(challenge),
          userId: found.id,
          ip: client.ip,
          userAgent: client.userAgent,
          expiresAt,
        });
        return { kind: 'mfa', challenge, expiresAt };
      }
      const session = await newSession(found, client, details);
      return { kind: 'session', ...session, user: await userById(found.id) };
    },

    /** Second step of a 2FA sign-in: a TOTP code or one unused recovery code. */
    async loginSecondFactor(
      input: { challenge: string; code?: string | undefined; recoveryCode?: string | undefined },
      client: ClientContext,
    ): Promise<LoginResult> {
      const tokenHash = hashToken(input.challenge);
      const challenge = await repo.findChallenge(db, tokenHash);
      if (!challenge || challenge.attempts >= CHALLENGE_MAX_ATTEMPTS) {
        throw new UnauthorizedError('The sign-in has expired. Enter your password again.');
      }
      const user = await repo.totpOf(db, challenge.user_id);
      if (!user || !user.totp_secret_enc || !user.totp_enabled_at) {
        throw new UnauthorizedError('The sign-in has expired. Enter your password again.');
      }
      await refuseIfLocked(user.username, client);
      let method: 'totp' | 'recovery_code' | null = null;
      if (input.code !== undefined) {
        const secret = Buffer.from(
          requireKeyRing().decrypt(user.totp_secret_enc, totpContext(user.id)),
          'base64',
        );
        const step = matchTotp(secret, input.code.trim());
        if (step !== null && (await repo.advanceTotpStep(db, user.id, step)).numUpdatedRows > 0n)
          method = 'totp';
      } else if (input.recoveryCode !== undefined) {
        const given = normaliseRecoveryCode(input.recoveryCode);
        for (const c of await repo.unusedRecoveryCodes(db, user.id)) {
          if (await verifyPassword(c.code_hash, given)) {
            if ((await repo.useRecoveryCode(db, c.id)).numUpdatedRows > 0n) method = 'recovery_code';
            break;
          }
        }
      } else {
        throw new BadRequestError('code: enter the 6-digit code from your authenticator app', 'code');
      }
      if (!method) {
        await repo.countChallengeFailure(db, tokenHash);
        await countLoginFailure(user.username, client, {
          targetId: user.id,
          reason: input.code !== undefined ? 'wrong_totp_code' : 'wrong_recovery_code',
        });
        throw new UnauthorizedError('Wrong code.');
      }
      await repo.deleteChallenge(db, tokenHash);
      const full = await repo.findUserByUsername(db, user.username);
      if (!full || full.disabled_at)
        throw new ForbiddenError('This account is disabled. Ask an administrator.');
      const session = await newSession(full, client, { mfa: method });
      return { kind: 'session', ...session, user: await userById(full.id) };
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
        mfaEnrollmentRequired: row.totp_enabled_at === null && (await policy.mfaRequiredFor(role)),
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
      if (row?.auth_source === 'ldap') {
        throw new ConflictError('This account signs in through the directory; change the password there.');
      }
      if (!row || !(await verifyPassword(row.password_hash, input.currentPassword))) {
        throw new BadRequestError('currentPassword: wrong password', 'currentPassword');
      }
      await refuseReuse(actor.userId, row.password_hash, input.newPassword);
      const passwordHash = await hashPassword(input.newPassword);
      await db.transaction().execute(async (trx) => {
        await rememberPassword(trx, actor.userId, row.password_hash);
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
      let accessChanged = false;
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
        accessChanged = patch.disabled === true || changes.role !== undefined;
        await auditTrail.record(trx, auditActorOf(actor), {
          action: changes.role ? 'user.role_change' : 'user.update',
          targetType: 'user',
          targetId: id,
          details: changes,
        });
      });
      // Sessions were revoked: the user's open sockets end now, not at their next heartbeat.
      if (accessChanged) deps.onAccessChanged?.([id]);
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

    // ---- sessions ----

    /** Live sessions of a user: one's own, or anyone's with sessions.manage. */
    async listSessions(actor: Actor, userId: string = actor.userId): Promise<SessionInfo[]> {
      if (userId !== actor.userId) {
        authorize(actor, 'sessions.manage');
        if (!(await repo.findUserById(db, userId))) throw new NotFoundError('user');
      }
      const rows = await repo.listLiveSessions(db, userId, settings.sessionIdleMinutes);
      return rows.map((r) => ({
        id: r.id,
        createdAt: r.created_at.toISOString(),
        lastSeenAt: r.last_seen_at.toISOString(),
        expiresAt: r.expires_at.toISOString(),
        ip: r.ip,
        userAgent: r.user_agent,
        current: r.id === actor.sessionId,
      }));
    },

    /** Ends one session. Someone else's needs sessions.manage; otherwise it is "not found". */
    async revokeSession(actor: Actor, sessionId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const session = await repo.findSession(trx, sessionId);
        const mine = session?.user_id === actor.userId;
        if (!session || (!mine && !roleHas(actor.role, 'sessions.manage')))
          throw new NotFoundError('session');
        if (session.revoked_at) return;
        await repo.revokeSession(trx, sessionId);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'session.revoke',
          targetType: 'session',
          targetId: sessionId,
          details: { userId: session.user_id, own: mine },
        });
      });
    },

    // ---- two-factor sign-in (TOTP) ----

    /** Starts enrolment: a new secret (shown once, as text and otpauth:// URL), not yet active. */
    async totpSetup(actor: Actor): Promise<{ secret: string; otpauthUrl: string }> {
      const ring = requireKeyRing();
      const user = await repo.totpOf(db, actor.userId);
      if (!user) throw new NotFoundError('user');
      if (user.totp_enabled_at)
        throw new ConflictError('Two-factor sign-in is already on. Turn it off first.');
      const secret = newTotpSecret();
      await repo.setTotp(db, actor.userId, {
        secretEnc: ring.encrypt(secret.toString('base64'), totpContext(actor.userId)),
        enabledAt: null,
        lastStep: null,
      });
      return {
        secret: base32Encode(secret),
        otpauthUrl: otpauthUrl({ secret, account: actor.username, issuer: TOTP_ISSUER }),
      };
    },

    /** Confirms enrolment with a first code; returns the recovery codes (shown once). */
    async totpEnable(actor: Actor, code: string): Promise<{ recoveryCodes: string[] }> {
      const ring = requireKeyRing();
      const user = await repo.totpOf(db, actor.userId);
      if (!user?.totp_secret_enc) throw new ConflictError('Start the set-up first.');
      if (user.totp_enabled_at) throw new ConflictError('Two-factor sign-in is already on.');
      const secret = Buffer.from(ring.decrypt(user.totp_secret_enc, totpContext(user.id)), 'base64');
      const step = matchTotp(secret, code.trim());
      if (step === null)
        throw new BadRequestError('code: the code does not match; check the time on your phone', 'code');
      const recoveryCodes = newRecoveryCodes();
      const hashes = await Promise.all(recoveryCodes.map((c) => hashPassword(normaliseRecoveryCode(c))));
      await db.transaction().execute(async (trx) => {
        await repo.setTotp(trx, actor.userId, {
          secretEnc: user.totp_secret_enc,
          enabledAt: new Date(),
          lastStep: step,
        });
        await repo.replaceRecoveryCodes(trx, actor.userId, hashes);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'user.totp_enable',
          targetType: 'user',
          targetId: actor.userId,
          details: { recoveryCodes: recoveryCodes.length },
        });
      });
      return { recoveryCodes };
    },

    /** Turns 2FA off (password and a current code needed); refused where policy requires it. */
    async totpDisable(actor: Actor, input: { password: string; code: string }): Promise<void> {
      const ring = requireKeyRing();
      const user = await repo.totpOf(db, actor.userId);
      if (!user?.totp_enabled_at || !user.totp_secret_enc)
        throw new ConflictError('Two-factor sign-in is not on.');
      if (await policy.mfaRequiredFor(actor.role)) {
        throw new ConflictError('Your role must use two-factor sign-in (security policy).');
      }
      const secret = Buffer.from(ring.decrypt(user.totp_secret_enc, totpContext(user.id)), 'base64');
      if (
        !(await verifyPassword(user.password_hash, input.password)) ||
        matchTotp(secret, input.code.trim()) === null
      ) {
        throw new BadRequestError('code: wrong password or code', 'code');
      }
      await db.transaction().execute(async (trx) => {
        await repo.setTotp(trx, actor.userId, { secretEnc: null, enabledAt: null, lastStep: null });
        await repo.replaceRecoveryCodes(trx, actor.userId, []);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'user.totp_disable',
          targetType: 'user',
          targetId: actor.userId,
        });
      });
    },

    /** An admin removes a user's 2FA (lost phone); the user is signed out everywhere. */
    async totpReset(actor: Actor, userId: string): Promise<void> {
      authorize(actor, 'users.manage');
      await db.transaction().execute(async (trx) => {
        const updated = await repo.setTotp(trx, userId, { secretEnc: null, enabledAt: null, lastStep: null });
        if (!updated.numUpdatedRows) throw new NotFoundError('user');
        await repo.replaceRecoveryCodes(trx, userId, []);
        await repo.revokeSessionsOfUser(trx, userId);
        await auditTrail.record(trx, auditActorOf(actor), {
          action: 'user.totp_reset',
          targetType: 'user',
          targetId: userId,
        });
      });
    },

    async pruneSessions(olderThanDays = 30) {
      await repo.deleteExpiredChallenges(db);
      return repo.deleteDeadSessions(db, olderThanDays);
    },
  };
}

export type IdentityService = ReturnType<typeof createIdentityService>;
