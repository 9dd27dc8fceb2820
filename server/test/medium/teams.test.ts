import { describe, expect, it } from 'vitest';
import { createTestApp, signIn } from '../support/app.ts';

const t = await createTestApp();
const admin = await signIn(t, 'admin');

function as(cookie: string) {
  return {
    get: (url: string) => t.app.inject({ method: 'GET', url, headers: { cookie } }),
    post: (url: string, payload?: object) =>
      t.app.inject({ method: 'POST', url, headers: { cookie }, payload }),
    patch: (url: string, payload: object) =>
      t.app.inject({ method: 'PATCH', url, headers: { cookie }, payload }),
    put: (url: string) => t.app.inject({ method: 'PUT', url, headers: { cookie } }),
    delete: (url: string) => t.app.inject({ method: 'DELETE', url, headers: { cookie } }),
  };
}

async function auditCount(action: string, targetId: string) {
  const rows = await t.container.db
    .selectFrom('audit_log')
    .select('seq')
    .where('action', '=', action)
    .where('target_id', '=', targetId)
    .execute();
  return rows.length;
}

describe('teams', () => {
  it('admins create, rename, staff and delete teams; each change is audited once', async () => {
    const api = as(admin.cookie);
    const created = await api.post('/api/v1/teams', { name: '售后服务', description: 'After-sales' });
    expect(created.statusCode).toBe(201);
    const team = created.json();
    expect(team.name).toBe('售后服务');
    expect(await auditCount('team.create', team.id)).toBe(1);

    const agent = await signIn(t, 'agent');
    const added = await api.put(`/api/v1/teams/${team.id}/members/${agent.userId}`);
    expect(added.statusCode).toBe(200);
    expect(added.json().members.map((m: { id: string }) => m.id)).toEqual([agent.userId]);
    // Adding again changes nothing and is not audited twice.
    await api.put(`/api/v1/teams/${team.id}/members/${agent.userId}`);
    expect(await auditCount('team.member_add', team.id)).toBe(1);

    const me = await as(agent.cookie).get('/api/v1/auth/me');
    expect(me.json().user.teamIds).toEqual([team.id]);

    const renamed = await api.patch(`/api/v1/teams/${team.id}`, { name: 'VIP 售后' });
    expect(renamed.json().name).toBe('VIP 售后');

    const removed = await api.delete(`/api/v1/teams/${team.id}/members/${agent.userId}`);
    expect(removed.json().members).toEqual([]);
    expect((await api.delete(`/api/v1/teams/${team.id}`)).statusCode).toBe(204);
    expect((await api.get(`/api/v1/teams/${team.id}`)).statusCode).toBe(404);
    expect(await auditCount('team.delete', team.id)).toBe(1);
  });

  it('asks every registered usage provider before a delete; any use refuses it, listing the uses, nothing changes', async () => {
    const api = as(admin.cookie);
    const used = (await api.post('/api/v1/teams', { name: '日历在用' })).json<{ id: string }>();
    const free = (await api.post('/api/v1/teams', { name: '没人用' })).json<{ id: string }>();
    const asked: string[] = [];
    // Two providers, as other modules register them (routing rules, business-hours calendars);
    // each runs inside the delete's transaction, after the team row is locked.
    t.container.teams.registerUsage(async (trx, teamId) => {
      asked.push(teamId);
      const locked = await trx
        .selectFrom('teams')
        .select('id')
        .where('id', '=', teamId)
        .forUpdate()
        .noWait()
        .executeTakeFirst();
      expect(locked?.id).toBe(teamId); // same transaction: the lock is ours, no wait
      return teamId === used.id ? [{ kind: 'calendar', id: 'cal-1', name: '工作日历' }] : [];
    });
    t.container.teams.registerUsage(async (_trx, teamId) =>
      teamId === used.id ? [{ kind: 'routing_rule', id: 'r-1', name: '退款' }] : [],
    );
    const refused = await api.delete(`/api/v1/teams/${used.id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.message).toContain('工作日历');
    expect(refused.json().error.details.usedBy).toEqual([
      { kind: 'calendar', id: 'cal-1', name: '工作日历' },
      { kind: 'routing_rule', id: 'r-1', name: '退款' },
    ]);
    expect((await api.get(`/api/v1/teams/${used.id}`)).statusCode).toBe(200);
    expect(await auditCount('team.delete', used.id)).toBe(0);
    expect((await api.delete(`/api/v1/teams/${free.id}`)).statusCode).toBe(204);
    expect(asked).toEqual([used.id, free.id]);
  });

  it('refuses duplicate names, case-insensitively, naming the field', async () => {
    const api = as(admin.cookie);
    expect((await api.post('/api/v1/teams', { name: 'Billing' })).statusCode).toBe(201);
    const dup = await api.post('/api/v1/teams', { name: 'billing' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.field).toBe('name');
  });

  it('agents and supervisors may list teams but not change them; nothing changes', async () => {
    for (const role of ['agent', 'supervisor'] as const) {
      const who = await signIn(t, role);
      expect((await as(who.cookie).get('/api/v1/teams')).statusCode).toBe(200);
      const res = await as(who.cookie).post('/api/v1/teams', { name: `by-${role}` });
      expect(res.statusCode).toBe(403);
    }
    const list = await as(admin.cookie).get('/api/v1/teams');
    expect(list.json().teams.map((x: { name: string }) => x.name)).not.toContain('by-agent');
  });

  it('auditors cannot see teams at all', async () => {
    const auditor = await signIn(t, 'auditor');
    expect((await as(auditor.cookie).get('/api/v1/teams')).statusCode).toBe(403);
  });

  it('404 for unknown team or user ids, 400 for malformed ids', async () => {
    const api = as(admin.cookie);
    const team = (await api.post('/api/v1/teams', { name: 'Pre-sales' })).json();
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await api.put(`/api/v1/teams/${team.id}/members/${missing}`)).statusCode).toBe(404);
    expect((await api.put(`/api/v1/teams/${missing}/members/${admin.userId}`)).statusCode).toBe(404);
    const bad = await api.get('/api/v1/teams/not-a-uuid');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('id');
  });
});
