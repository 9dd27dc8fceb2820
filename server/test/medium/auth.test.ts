import { describe, expect, it } from 'vitest';
import { hashToken } from '../../src/modules/identity/identity.service.ts';
import { createTestApp, signIn } from '../support/app.ts';

const t = await createTestApp({ LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: '3', LOGIN_LOCKOUT_BASE_SECONDS: '30' });
/** A second, empty Parley database: no admin yet. */
const t2 = await createTestApp();

async function login(username: string, password: string, ip = '10.9.9.9') {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password },
    remoteAddress: ip,
  });
}

describe('sign-in and sessions', () => {
  it('signs in with a session cookie that is httpOnly and SameSite=Strict, and stores only its hash', async () => {
    const { username, password } = await signIn(t, 'agent');
    const res = await login(username, password);
    expect(res.statusCode).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/parley_session=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const token = /parley_session=([^;]+)/.exec(cookie)![1]!;
    const rows = await t.container.db.selectFrom('sessions').select('token_hash').execute();
    expect(rows.some((r) => r.token_hash.equals(hashToken(token)))).toBe(true);
    expect(rows.some((r) => r.token_hash.toString('utf8').includes(token))).toBe(false);

    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { cookie: `parley_session=${token}` },
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.username).toBe(username);
    expect(me.json().user).not.toHaveProperty('passwordHash');
  });

  it('refuses a wrong password with 401 and audits the failure', async () => {
    const { username, userId } = await signIn(t, 'agent');
    const res = await login(username, 'not-the-password');
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('unauthorized');
    const audit = await t.container.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'auth.login')
      .where('target_id', '=', userId)
      .where('outcome', '=', 'failure')
      .execute();
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0]!.details)).not.toContain('not-the-password');
  });

  it('locks an account after repeated failures, with Retry-After, even for the right password', async () => {
    const { username, password } = await signIn(t, 'agent');
    expect((await login(username, 'wrong-1', '10.0.0.1')).statusCode).toBe(401);
    expect((await login(username, 'wrong-2', '10.0.0.2')).statusCode).toBe(401);
    const third = await login(username, 'wrong-3', '10.0.0.3');
    expect(third.statusCode).toBe(429);
    expect(third.json().error.code).toBe('login_locked');
    expect(Number(third.headers['retry-after'])).toBe(30);
    const right = await login(username, password, '10.0.0.4');
    expect(right.statusCode).toBe(429);
    expect(right.json().error.message).toMatch(/Try again in \d+ seconds/);
    const lockouts = await t.container.db
      .selectFrom('audit_log')
      .select('target_id')
      .where('action', '=', 'auth.lockout')
      .where('target_id', '=', username)
      .execute();
    expect(lockouts).toHaveLength(1);
  });

  it('locks an IP address that tries many accounts', async () => {
    const ip = '10.7.7.7';
    for (let i = 0; i < 19; i++) expect((await login(`nobody-${i}`, 'x', ip)).statusCode).toBe(401);
    const res = await login('nobody-last', 'x', ip);
    expect(res.statusCode).toBe(429);
    const { username, password } = await signIn(t, 'agent');
    expect((await login(username, password, ip)).statusCode).toBe(429);
    expect((await login(username, password, '10.7.7.8')).statusCode).toBe(200);
  });

  it('logs out: the cookie stops working and the logout is audited', async () => {
    const { cookie } = await signIn(t, 'supervisor');
    const out = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie } });
    expect(out.statusCode).toBe(204);
    const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie } });
    expect(me.statusCode).toBe(401);
  });

  it('ends a session after the idle timeout and after the absolute timeout', async () => {
    const idle = await signIn(t, 'agent');
    await t.container.db
      .updateTable('sessions')
      .set({ last_seen_at: new Date(Date.now() - (t.config.sessionIdleMinutes + 1) * 60_000) })
      .where('user_id', '=', idle.userId)
      .execute();
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: idle.cookie } }))
        .statusCode,
    ).toBe(401);

    const old = await signIn(t, 'agent');
    await t.container.db
      .updateTable('sessions')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('user_id', '=', old.userId)
      .execute();
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: old.cookie } }))
        .statusCode,
    ).toBe(401);
  });

  it('refuses disabled accounts and signs them out', async () => {
    const admin = await signIn(t, 'admin');
    const agent = await signIn(t, 'agent');
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${agent.userId}`,
      headers: { cookie: admin.cookie },
      payload: { disabled: true },
    });
    expect(res.statusCode).toBe(200);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: agent.cookie } }))
        .statusCode,
    ).toBe(401);
    const again = await login(agent.username, agent.password, '10.1.1.1');
    expect(again.statusCode).toBe(403);
    expect(again.json().error.message).toMatch(/disabled/);
  });

  it('changes the own password: old one stops working, other sessions end', async () => {
    const u = await signIn(t, 'agent');
    const second = await login(u.username, u.password, '10.2.2.2');
    const secondCookie = String(second.headers['set-cookie']).split(';')[0]!;
    const bad = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: { cookie: u.cookie },
      payload: { currentPassword: u.password, newPassword: 'short' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('newPassword');
    const ok = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/password',
      headers: { cookie: u.cookie },
      payload: { currentPassword: u.password, newPassword: 'a-much-better-password' },
    });
    expect(ok.statusCode).toBe(204);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: u.cookie } }))
        .statusCode,
    ).toBe(200);
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: secondCookie } }))
        .statusCode,
    ).toBe(401);
    expect((await login(u.username, u.password, '10.3.3.3')).statusCode).toBe(401);
    expect((await login(u.username, 'a-much-better-password', '10.3.3.4')).statusCode).toBe(200);
  });

  it('creates the first admin once, even when asked twice', async () => {
    const [a, b] = await Promise.all([
      t2.container.identity.ensureFirstAdmin(),
      t2.container.identity.ensureFirstAdmin(),
    ]);
    expect([a, b].filter(Boolean)).toHaveLength(1);
    const admin = (a ?? b)!;
    const res = await t2.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: admin.username, password: admin.password },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().user.mustChangePassword).toBe(true);
    expect(await t2.container.identity.ensureFirstAdmin()).toBeNull();
  });
});
