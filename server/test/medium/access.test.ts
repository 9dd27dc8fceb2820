// Access controls a user notices: 2FA enrolment and sign-in, recovery codes, the 2FA policy,
// password reuse, the session list, the console IP allow-list, CSRF and rate limits.
import { describe, expect, it, vi } from 'vitest';
import { generateKey } from '../../src/platform/crypto/keyring.ts';
import { base32Decode, totp } from '../../src/platform/crypto/totp.ts';
import { createTestApp, signIn, type TestApp } from '../support/app.ts';

const ORIGIN = 'http://localhost:8080';
const t = await createTestApp({
  PARLEY_ENCRYPTION_KEYS: `k1:${generateKey()}`,
  PARLEY_LOOKUP_KEY: generateKey(),
  PASSWORD_HISTORY: '3',
});
const limited = await createTestApp({ PUBLIC_RATE_LIMIT_PER_MINUTE: '3' });

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT';
function req(
  method: Method,
  url: string,
  opts: { cookie?: string; payload?: unknown; ip?: string; origin?: string | null; app?: TestApp } = {},
) {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.origin !== null) headers.origin = opts.origin ?? ORIGIN;
  return (opts.app ?? t).app.inject({
    method,
    url,
    headers,
    remoteAddress: opts.ip ?? '10.50.0.1',
    ...(opts.payload === undefined ? {} : { payload: opts.payload as object }),
  });
}

const cookieOf = (res: { headers: Record<string, unknown> }) =>
  String(res.headers['set-cookie']).split(';')[0]!;

async function auditActions(since: number) {
  const rows = await t.container.db
    .selectFrom('audit_log')
    .select(['action', 'outcome', 'target_id', 'details'])
    .where('seq', '>', since)
    .orderBy('seq')
    .execute();
  return rows;
}
async function head() {
  const r = await t.container.db
    .selectFrom('audit_log')
    .select((eb) => eb.fn.max('seq').as('m'))
    .executeTakeFirst();
  return Number(r?.m ?? 0);
}

describe('two-factor sign-in (TOTP)', () => {
  it('enrols, then signs in with a code as second step; codes cannot be replayed', async () => {
    const u = await signIn(t, 'agent');
    const setup = await req('POST', '/api/v1/auth/totp/setup', { cookie: u.cookie });
    expect(setup.statusCode).toBe(200);
    const { secret, otpauthUrl } = setup.json<{ secret: string; otpauthUrl: string }>();
    expect(otpauthUrl).toMatch(/^otpauth:\/\/totp\/Parley%3A.+\?secret=[A-Z2-7]+&issuer=Parley/);
    // The secret is stored encrypted, never in clear.
    const row = await t.container.db
      .selectFrom('users')
      .select('totp_secret_enc')
      .where('id', '=', u.userId)
      .executeTakeFirstOrThrow();
    expect(row.totp_secret_enc).toMatch(/^pe1:k1:/);
    expect(row.totp_secret_enc).not.toContain(secret);

    const key = base32Decode(secret);
    expect(
      (await req('POST', '/api/v1/auth/totp/enable', { cookie: u.cookie, payload: { code: '000000' } }))
        .statusCode,
    ).toBe(400);
    const since = await head();
    const enabled = await req('POST', '/api/v1/auth/totp/enable', {
      cookie: u.cookie,
      payload: { code: totp(key) },
    });
    expect(enabled.statusCode).toBe(200);
    const { recoveryCodes } = enabled.json<{ recoveryCodes: string[] }>();
    expect(recoveryCodes).toHaveLength(10);
    expect((await auditActions(since)).map((r) => r.action)).toEqual(['user.totp_enable']);

    // Password alone no longer signs in: a challenge, no cookie.
    const first = await req('POST', '/api/v1/auth/login', {
      payload: { username: u.username, password: u.password },
    });
    expect(first.statusCode).toBe(200);
    expect(first.headers['set-cookie']).toBeUndefined();
    const { challenge, mfaRequired } = first.json<{ challenge: string; mfaRequired: boolean }>();
    expect(mfaRequired).toBe(true);

    const wrong = await req('POST', '/api/v1/auth/login/second-factor', {
      payload: { challenge, code: '123456' },
    });
    expect(wrong.statusCode).toBe(401);
    const code = totp(key, Date.now() + 30_000);
    const ok = await req('POST', '/api/v1/auth/login/second-factor', { payload: { challenge, code } });
    expect(ok.statusCode).toBe(200);
    const cookie = cookieOf(ok);
    expect(
      (await req('GET', '/api/v1/auth/me', { cookie })).json<{ user: { totpEnabled: boolean } }>().user
        .totpEnabled,
    ).toBe(true);

    // The same code again (a replay) is refused, as is the used challenge.
    const again = await req('POST', '/api/v1/auth/login', {
      payload: { username: u.username, password: u.password },
    });
    const challenge2 = again.json<{ challenge: string }>().challenge;
    expect(
      (await req('POST', '/api/v1/auth/login/second-factor', { payload: { challenge: challenge2, code } }))
        .statusCode,
    ).toBe(401);
    expect(
      (await req('POST', '/api/v1/auth/login/second-factor', { payload: { challenge, code } })).statusCode,
    ).toBe(401);

    // A recovery code works once.
    const rc = recoveryCodes[0]!;
    const withRecovery = await req('POST', '/api/v1/auth/login/second-factor', {
      payload: { challenge: challenge2, recoveryCode: rc.toUpperCase() },
    });
    expect(withRecovery.statusCode).toBe(200);
    const failures = (await auditActions(since)).filter((r) => r.outcome === 'failure');
    expect(failures.map((f) => (f.details as { reason: string }).reason)).toEqual([
      'wrong_totp_code',
      'wrong_totp_code',
    ]);
    const third = await req('POST', '/api/v1/auth/login', {
      payload: { username: u.username, password: u.password },
    });
    expect(
      (
        await req('POST', '/api/v1/auth/login/second-factor', {
          payload: { challenge: third.json<{ challenge: string }>().challenge, recoveryCode: rc },
        })
      ).statusCode,
    ).toBe(401);
    const recoveryCodesInDb = await t.container.db
      .selectFrom('user_recovery_codes')
      .select('code_hash')
      .where('user_id', '=', u.userId)
      .execute();
    expect(recoveryCodesInDb.every((c) => c.code_hash.startsWith('$argon2id$'))).toBe(true);

    // An admin can reset it (lost phone), audited; then the password alone signs in again.
    const admin = await signIn(t, 'admin');
    expect(
      (await req('POST', `/api/v1/users/${u.userId}/totp/reset`, { cookie: admin.cookie })).statusCode,
    ).toBe(204);
    const plain = await req('POST', '/api/v1/auth/login', {
      payload: { username: u.username, password: u.password },
    });
    expect(plain.headers['set-cookie']).toBeDefined();
  });

  it('policy: once enforced, an admin without 2FA can only enrol', async () => {
    const admin = await signIn(t, 'admin');
    const on = await req('PATCH', '/api/v1/security/settings', {
      cookie: admin.cookie,
      payload: { mfaEnforced: true },
    });
    expect(on.statusCode).toBe(200);
    expect(on.json()).toMatchObject({ mfaEnforced: true, mfaRequiredRoles: ['admin'] });
    const other = await signIn(t, 'admin');
    try {
      const blocked = await req('GET', '/api/v1/users', { cookie: other.cookie });
      expect(blocked.statusCode).toBe(403);
      expect(blocked.json<{ error: { code: string } }>().error.code).toBe('mfa_enrollment_required');
      const me = await req('GET', '/api/v1/auth/me', { cookie: other.cookie });
      expect(me.json<{ mfaEnrollmentRequired: boolean }>().mfaEnrollmentRequired).toBe(true);
      // agents are not affected by the default policy
      const agent = await signIn(t, 'agent');
      expect((await req('GET', '/api/v1/teams', { cookie: agent.cookie })).statusCode).toBe(200);
      // enrol → full access
      const { secret } = (await req('POST', '/api/v1/auth/totp/setup', { cookie: other.cookie })).json<{
        secret: string;
      }>();
      await req('POST', '/api/v1/auth/totp/enable', {
        cookie: other.cookie,
        payload: { code: totp(base32Decode(secret)) },
      });
      expect((await req('GET', '/api/v1/users', { cookie: other.cookie })).statusCode).toBe(200);
    } finally {
      const off = await req('PATCH', '/api/v1/security/settings', {
        cookie: other.cookie,
        payload: { mfaEnforced: false },
      });
      expect(off.statusCode).toBe(200);
    }
  });
});

describe('passwords and sessions', () => {
  it('refuses reusing one of the last N passwords', async () => {
    const u = await signIn(t, 'agent');
    const change = (from: string, to: string) =>
      req('POST', '/api/v1/auth/password', {
        cookie: u.cookie,
        payload: { currentPassword: from, newPassword: to },
      });
    expect((await change(u.password, 'second-password-1')).statusCode).toBe(204);
    expect((await change('second-password-1', 'third-password-1')).statusCode).toBe(204);
    const reuse = await change('third-password-1', u.password);
    expect(reuse.statusCode).toBe(400);
    expect(reuse.json<{ error: { message: string } }>().error.message).toMatch(/last 3 passwords/);
    expect((await change('third-password-1', 'fourth-password-1')).statusCode).toBe(204);
  });

  it('lists own sessions and revokes one (audited); others only with sessions.manage', async () => {
    const u = await signIn(t, 'agent');
    const second = await req('POST', '/api/v1/auth/login', {
      payload: { username: u.username, password: u.password },
      ip: '10.60.0.9',
    });
    const list = await req('GET', '/api/v1/auth/sessions', { cookie: u.cookie });
    const sessions = list.json<{ sessions: { id: string; current: boolean; ip: string }[] }>().sessions;
    expect(sessions).toHaveLength(2);
    const other = sessions.find((s) => !s.current)!;
    expect(other.ip).toBe('10.60.0.9');

    const stranger = await signIn(t, 'agent');
    expect(
      (await req('DELETE', `/api/v1/auth/sessions/${other.id}`, { cookie: stranger.cookie })).statusCode,
    ).toBe(404);
    expect(
      (await req('GET', `/api/v1/users/${u.userId}/sessions`, { cookie: stranger.cookie })).statusCode,
    ).toBe(403);

    const since = await head();
    expect((await req('DELETE', `/api/v1/auth/sessions/${other.id}`, { cookie: u.cookie })).statusCode).toBe(
      204,
    );
    expect((await req('GET', '/api/v1/auth/me', { cookie: cookieOf(second) })).statusCode).toBe(401);
    expect((await auditActions(since)).map((r) => [r.action, r.target_id])).toEqual([
      ['session.revoke', other.id],
    ]);

    const admin = await signIn(t, 'admin');
    const adminView = await req('GET', `/api/v1/users/${u.userId}/sessions`, { cookie: admin.cookie });
    const [mine] = adminView.json<{ sessions: { id: string }[] }>().sessions;
    expect(
      (await req('DELETE', `/api/v1/auth/sessions/${mine!.id}`, { cookie: admin.cookie })).statusCode,
    ).toBe(204);
    expect((await req('GET', '/api/v1/auth/me', { cookie: u.cookie })).statusCode).toBe(401);
  });
});

describe('request-level defences', () => {
  it('refuses a cross-origin POST that carries a valid session cookie', async () => {
    const admin = await signIn(t, 'admin');
    const payload = { name: `csrf-${process.pid}` };
    const evil = await req('POST', '/api/v1/teams', {
      cookie: admin.cookie,
      payload,
      origin: 'https://evil.example',
    });
    expect(evil.statusCode).toBe(403);
    expect(evil.json<{ error: { code: string } }>().error.code).toBe('cross_origin');
    const fetchMeta = await t.app.inject({
      method: 'POST',
      url: '/api/v1/teams',
      headers: { cookie: admin.cookie, 'sec-fetch-site': 'cross-site' },
      payload,
    });
    expect(fetchMeta.statusCode).toBe(403);
    const teams = await t.container.db
      .selectFrom('teams')
      .select('id')
      .where('name', '=', payload.name)
      .execute();
    expect(teams).toHaveLength(0);
    // Same origin works: the public URL, or the host the request was addressed to.
    expect((await req('POST', '/api/v1/teams', { cookie: admin.cookie, payload })).statusCode).toBe(201);
    const byAddress = await t.app.inject({
      method: 'POST',
      url: '/api/v1/teams',
      headers: { cookie: admin.cookie, origin: 'http://10.0.0.5:8080', host: '10.0.0.5:8080' },
      payload: { name: `csrf2-${process.pid}` },
    });
    expect(byAddress.statusCode).toBe(201);
    const spoof = await t.app.inject({
      method: 'POST',
      url: '/api/v1/teams',
      headers: { cookie: admin.cookie, origin: 'http://10.0.0.5:8080', host: '10.0.0.6:8080' },
      payload: { name: `csrf3-${process.pid}` },
    });
    expect(spoof.statusCode).toBe(403);
    // Login from another site's page is refused too (login CSRF).
    expect(
      (
        await req('POST', '/api/v1/auth/login', {
          payload: { username: 'x', password: 'y' },
          origin: 'https://evil.example',
        })
      ).statusCode,
    ).toBe(403);
  });

  it('console IP allow-list: refuses other addresses, and an admin cannot lock themselves out', async () => {
    const admin = await signIn(t, 'admin');
    const self = await req('PATCH', '/api/v1/security/settings', {
      cookie: admin.cookie,
      payload: { consoleIpAllowList: ['192.168.0.0/16'] },
    });
    expect(self.statusCode).toBe(409);
    const bad = await req('PATCH', '/api/v1/security/settings', {
      cookie: admin.cookie,
      payload: { consoleIpAllowList: ['not-an-ip'] },
    });
    expect(bad.statusCode).toBe(400);
    const agent = await signIn(t, 'agent');
    const since = await head();
    const set = await req('PATCH', '/api/v1/security/settings', {
      cookie: admin.cookie,
      payload: { consoleIpAllowList: ['10.50.0.0/24'] },
    });
    expect(set.statusCode).toBe(200);
    expect((await auditActions(since)).map((r) => r.action)).toEqual(['settings.update']);
    try {
      expect((await req('GET', '/api/v1/teams', { cookie: agent.cookie })).statusCode).toBe(200);
      const outside = await req('GET', '/api/v1/teams', { cookie: agent.cookie, ip: '172.16.1.1' });
      expect(outside.statusCode).toBe(403);
      expect(outside.json<{ error: { code: string } }>().error.code).toBe('ip_not_allowed');
      const login = await req('POST', '/api/v1/auth/login', {
        payload: { username: agent.username, password: agent.password },
        ip: '172.16.1.1',
      });
      expect(login.statusCode).toBe(403);
      const denied = await auditActions(since);
      expect(denied.at(-1)).toMatchObject({
        action: 'auth.login',
        outcome: 'denied',
        details: { reason: 'ip_not_allowed' },
      });
      // Health checks are not the console.
      expect((await req('GET', '/healthz', { ip: '172.16.1.1' })).statusCode).toBe(200);
    } finally {
      await req('PATCH', '/api/v1/security/settings', {
        cookie: admin.cookie,
        payload: { consoleIpAllowList: [] },
      });
    }
  });

  it('rate-limits public endpoints per IP address', async () => {
    const hit = (ip: string) =>
      req('POST', '/api/v1/auth/login', { payload: { username: 'nobody', password: 'x' }, ip, app: limited });
    // The window is a wall-clock minute: the clock is held 20 s into one, so a real minute
    // boundary falling between two requests cannot reset the count.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-12-07T10:00:20Z'));
      for (let i = 0; i < 3; i++) expect((await hit('10.70.0.1')).statusCode).toBe(401);
      const over = await hit('10.70.0.1');
      expect(over.statusCode).toBe(429);
      expect(over.json<{ error: { code: string } }>().error.code).toBe('rate_limited');
      expect(Number(over.headers['retry-after'])).toBe(40);
      expect((await hit('10.70.0.2')).statusCode).toBe(401);
      // Non-public routes and health checks are not counted.
      for (let i = 0; i < 5; i++)
        expect((await req('GET', '/healthz', { ip: '10.70.0.1', app: limited })).statusCode).toBe(200);
      // The next minute starts a new count (asked on another public route: the sign-in failures
      // above have locked this address out of sign-in, which is not the rate limit).
      const session = () =>
        req('POST', '/api/v1/widget/session', { payload: {}, ip: '10.70.0.1', app: limited });
      expect((await session()).statusCode).toBe(429);
      vi.setSystemTime(new Date('2026-12-07T10:01:00Z'));
      expect((await session()).statusCode).toBe(200);
    } finally {
      vi.useRealTimers();
    }
  });
});
