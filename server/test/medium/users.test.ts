import { describe, expect, it } from 'vitest';
import { createTestApp, signIn } from '../support/app.ts';

const t = await createTestApp();

describe('user administration', () => {
  it('an admin creates a user with a one-time password that must be changed', async () => {
    const admin = await signIn(t, 'admin');
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { cookie: admin.cookie },
      payload: { username: 'Li.Na', displayName: '李娜', role: 'agent' },
    });
    expect(res.statusCode).toBe(201);
    const { user, oneTimePassword } = res.json();
    expect(user).toMatchObject({
      username: 'li.na',
      displayName: '李娜',
      role: 'agent',
      mustChangePassword: true,
    });
    expect(oneTimePassword).toMatch(/^[A-Za-z0-9]{20}$/);
    const login = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'LI.NA', password: oneTimePassword },
    });
    expect(login.statusCode).toBe(200);
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select(['actor_id', 'details'])
      .where('action', '=', 'user.create')
      .where('target_id', '=', user.id)
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]!.actor_id).toBe(admin.userId);
    expect(JSON.stringify(audit[0]!.details)).not.toContain(oneTimePassword);

    const dup = await t.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { cookie: admin.cookie },
      payload: { username: 'li.na', displayName: 'Other', role: 'agent' },
    });
    expect(dup.statusCode).toBe(409);
  });

  it('role changes are audited with before and after, and end the sessions of that user', async () => {
    const admin = await signIn(t, 'admin');
    const agent = await signIn(t, 'agent');
    const res = await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${agent.userId}`,
      headers: { cookie: admin.cookie },
      payload: { role: 'supervisor' },
    });
    expect(res.json().role).toBe('supervisor');
    const [record] = await t.container.db
      .selectFrom('audit_log')
      .select('details')
      .where('action', '=', 'user.role_change')
      .where('target_id', '=', agent.userId)
      .execute();
    expect(record?.details).toEqual({ role: { from: 'agent', to: 'supervisor' } });
    const me = await t.app.inject({
      method: 'GET',
      url: '/api/v1/auth/me',
      headers: { cookie: agent.cookie },
    });
    expect(me.statusCode).toBe(401);
  });

  it('the last active admin cannot be demoted or disabled', async () => {
    const fresh = await createTestApp();
    const admin = await signIn(fresh, 'admin');
    for (const payload of [{ role: 'agent' }, { disabled: true }]) {
      const res = await fresh.app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${admin.userId}`,
        headers: { cookie: admin.cookie },
        payload,
      });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.message).toMatch(/last active admin/);
    }
  });

  it('reset password: old password stops working, new one-time password works', async () => {
    const admin = await signIn(t, 'admin');
    const agent = await signIn(t, 'agent');
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/users/${agent.userId}/reset-password`,
      headers: { cookie: admin.cookie },
    });
    const { oneTimePassword } = res.json();
    const old = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: agent.username, password: agent.password },
    });
    expect(old.statusCode).toBe(401);
    const fresh = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: agent.username, password: oneTimePassword },
    });
    expect(fresh.statusCode).toBe(200);
  });

  it.each(['agent', 'supervisor', 'auditor'] as const)(
    '%s cannot create users or reset passwords',
    async (role) => {
      const who = await signIn(t, role);
      const create = await t.app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: { cookie: who.cookie },
        payload: { username: `made-by-${role}`, displayName: 'X', role: 'admin' },
      });
      expect(create.statusCode).toBe(403);
      const reset = await t.app.inject({
        method: 'POST',
        url: `/api/v1/users/${who.userId}/reset-password`,
        headers: { cookie: who.cookie },
      });
      expect(reset.statusCode).toBe(403);
      const list = await t.app.inject({
        method: 'GET',
        url: '/api/v1/users',
        headers: { cookie: who.cookie },
      });
      expect(list.statusCode).toBe(role === 'supervisor' ? 200 : 403);
    },
  );

  it('signed-out requests get 401', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/users' })).statusCode).toBe(401);
  });
});
