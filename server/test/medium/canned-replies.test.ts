import { describe, expect, it } from 'vitest';
import { createTestApp, signIn } from '../support/app.ts';

const t = await createTestApp();

type Cookie = { cookie: string };

async function call(who: Cookie, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) {
  return t.app.inject({ method, url, headers: { cookie: who.cookie }, ...(payload ? { payload } : {}) });
}

async function newTeam(name: string): Promise<string> {
  const row = await t.container.db
    .insertInto('teams')
    .values({ name })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function auditActions(targetId: string): Promise<string[]> {
  const rows = await t.container.db
    .selectFrom('audit_log')
    .select('action')
    .where('target_type', '=', 'canned_reply')
    .where('target_id', '=', targetId)
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.action);
}

describe('canned replies', () => {
  it('an agent manages personal replies that nobody else sees; personal changes are not audited', async () => {
    const agent = await signIn(t, 'agent');
    const other = await signIn(t, 'agent');
    const created = await call(agent, 'POST', '/api/v1/canned-replies', {
      scope: 'personal',
      shortcut: 'hello',
      body: '您好 {{contact.name|客户}}，我是 {{agent.name}}。',
      category: '问候',
    });
    expect(created.statusCode).toBe(201);
    const reply = created.json();
    expect(reply).toMatchObject({ scope: 'personal', shortcut: 'hello', category: '问候', editable: true });

    const mine = (await call(agent, 'GET', '/api/v1/canned-replies')).json().cannedReplies;
    expect(mine.map((r: { id: string }) => r.id)).toContain(reply.id);
    const theirs = (await call(other, 'GET', '/api/v1/canned-replies')).json().cannedReplies;
    expect(theirs.map((r: { id: string }) => r.id)).not.toContain(reply.id);
    // Someone else's personal reply does not exist for them, not even as "forbidden".
    expect((await call(other, 'PATCH', `/api/v1/canned-replies/${reply.id}`, { body: 'x' })).statusCode).toBe(
      404,
    );
    expect((await call(other, 'DELETE', `/api/v1/canned-replies/${reply.id}`)).statusCode).toBe(404);

    const updated = await call(agent, 'PATCH', `/api/v1/canned-replies/${reply.id}`, {
      body: 'Bye {{agent.name}}',
    });
    expect(updated.statusCode).toBe(200);
    expect(updated.json().body).toBe('Bye {{agent.name}}');
    expect((await call(agent, 'DELETE', `/api/v1/canned-replies/${reply.id}`)).statusCode).toBe(204);
    expect((await call(agent, 'GET', `/api/v1/canned-replies/${reply.id}`)).statusCode).toBe(404);
    expect(await auditActions(reply.id)).toEqual([]);
  });

  it('refuses unknown placeholders, bad shortcuts and duplicates, naming the field', async () => {
    const agent = await signIn(t, 'agent');
    const typo = await call(agent, 'POST', '/api/v1/canned-replies', {
      scope: 'personal',
      shortcut: 'typo',
      body: 'Hi {{contact.nmae}}',
    });
    expect(typo.statusCode).toBe(400);
    expect(typo.json().error.field).toBe('body');
    expect(typo.json().error.message).toContain('contact.nmae');

    const spaced = await call(agent, 'POST', '/api/v1/canned-replies', {
      scope: 'personal',
      shortcut: 'two words',
      body: 'x',
    });
    expect(spaced.statusCode).toBe(400);
    expect(spaced.json().error.field).toBe('shortcut');

    const missing = await call(agent, 'POST', '/api/v1/canned-replies', { scope: 'personal', shortcut: 'x' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.field).toBe('body');

    const first = await call(agent, 'POST', '/api/v1/canned-replies', {
      scope: 'personal',
      shortcut: 'Dup',
      body: '1',
    });
    expect(first.statusCode).toBe(201);
    const again = await call(agent, 'POST', '/api/v1/canned-replies', {
      scope: 'personal',
      shortcut: 'dup',
      body: '2',
    });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.field).toBe('shortcut');
    // The same shortcut in another user's personal set is fine.
    const other = await signIn(t, 'agent');
    expect(
      (await call(other, 'POST', '/api/v1/canned-replies', { scope: 'personal', shortcut: 'dup', body: '3' }))
        .statusCode,
    ).toBe(201);
  });

  it('team replies: members see them, only supervisors of that team (or admins) manage them, audited', async () => {
    const sales = await newTeam(`Sales ${process.pid}`);
    const support = await newTeam(`Support ${process.pid}`);
    const supervisor = await signIn(t, 'supervisor', { teamIds: [sales] });
    const member = await signIn(t, 'agent', { teamIds: [sales] });
    const outsider = await signIn(t, 'agent', { teamIds: [support] });
    const admin = await signIn(t, 'admin');

    const byAgent = await call(member, 'POST', '/api/v1/canned-replies', {
      scope: 'team',
      teamId: sales,
      shortcut: 'price',
      body: 'x',
    });
    expect(byAgent.statusCode).toBe(403);
    const otherTeam = await call(supervisor, 'POST', '/api/v1/canned-replies', {
      scope: 'team',
      teamId: support,
      shortcut: 'price',
      body: 'x',
    });
    expect(otherTeam.statusCode).toBe(403);

    const created = await call(supervisor, 'POST', '/api/v1/canned-replies', {
      scope: 'team',
      teamId: sales,
      shortcut: 'price',
      body: 'Our prices: …',
      category: 'Sales',
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    expect(created.json()).toMatchObject({ teamId: sales, teamName: `Sales ${process.pid}`, editable: true });

    const seenByMember = (await call(member, 'GET', '/api/v1/canned-replies')).json().cannedReplies;
    expect(seenByMember.find((r: { id: string }) => r.id === id)).toMatchObject({ editable: false });
    const seenByOutsider = (await call(outsider, 'GET', '/api/v1/canned-replies')).json().cannedReplies;
    expect(seenByOutsider.find((r: { id: string }) => r.id === id)).toBeUndefined();

    expect((await call(member, 'PATCH', `/api/v1/canned-replies/${id}`, { body: 'y' })).statusCode).toBe(403);
    expect((await call(outsider, 'DELETE', `/api/v1/canned-replies/${id}`)).statusCode).toBe(404);
    expect(
      (await call(admin, 'PATCH', `/api/v1/canned-replies/${id}`, { category: 'Pricing' })).statusCode,
    ).toBe(200);
    expect((await call(supervisor, 'DELETE', `/api/v1/canned-replies/${id}`)).statusCode).toBe(204);
    expect(await auditActions(id)).toEqual([
      'canned_reply.create',
      'canned_reply.update',
      'canned_reply.delete',
    ]);
  });

  it('global replies: everyone sees them, only admins manage them', async () => {
    const admin = await signIn(t, 'admin');
    const supervisor = await signIn(t, 'supervisor');
    const agent = await signIn(t, 'agent');
    const auditor = await signIn(t, 'auditor');

    expect(
      (
        await call(supervisor, 'POST', '/api/v1/canned-replies', {
          scope: 'global',
          shortcut: 'g',
          body: 'x',
        })
      ).statusCode,
    ).toBe(403);
    const created = await call(admin, 'POST', '/api/v1/canned-replies', {
      scope: 'global',
      shortcut: 'thanks',
      body: 'Thank you, {{contact.name|dear customer}}!',
    });
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    const seen = (await call(agent, 'GET', '/api/v1/canned-replies')).json().cannedReplies;
    expect(seen.find((r: { id: string }) => r.id === id)).toMatchObject({ scope: 'global', editable: false });
    expect((await call(agent, 'DELETE', `/api/v1/canned-replies/${id}`)).statusCode).toBe(403);
    // Auditors do not answer customers, so they have no canned replies at all.
    expect((await call(auditor, 'GET', '/api/v1/canned-replies')).statusCode).toBe(403);
    expect(await auditActions(id)).toEqual(['canned_reply.create']);
  });
});
