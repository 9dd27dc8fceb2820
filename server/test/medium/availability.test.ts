// Agent availability (modules/availability): each agent sets their own status, stored; colleagues
// see it in the list and hear it on their socket within a second; the list is scoped (agents:
// their teams; supervisors and admins: everyone); auditors have no part in it. Real sockets.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, httpClient, signIn } from '../support/app.ts';
import { TestSocket, isType } from '../support/realtime.ts';

const t = await createTestApp();
await t.app.listen({ host: '127.0.0.1', port: 0 });
const address = t.app.server.address();
const wsBase = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const http = httpClient(t);
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
});

type View = { userId: string; status: string; connected: boolean };
const list = async (cookie: string) => {
  const res = await http('GET', '/api/v1/availability', { cookie });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ agents: View[] }>().agents;
};

describe('agent availability', () => {
  const setup = (async () => {
    const admin = await signIn(t, 'admin');
    const team = (
      await http('POST', '/api/v1/teams', { cookie: admin.cookie, body: { name: `售后-${randomUUID()}` } })
    ).json<{ id: string }>();
    const other = (
      await http('POST', '/api/v1/teams', { cookie: admin.cookie, body: { name: `财务-${randomUUID()}` } })
    ).json<{ id: string }>();
    return {
      admin,
      a: await signIn(t, 'agent', { teamIds: [team.id] }),
      b: await signIn(t, 'agent', { teamIds: [team.id] }),
      stranger: await signIn(t, 'agent', { teamIds: [other.id] }),
      supervisor: await signIn(t, 'supervisor', { teamIds: [other.id] }),
    };
  })();

  it('an agent sets their status; a teammate hears it on the socket within a second and sees it listed', async () => {
    const { a, b } = await setup;
    const socket = await TestSocket.open(`${wsBase}/api/v1/ws`, { cookie: b.cookie });
    sockets.push(socket);
    socket.send({ type: 'hello' });
    await socket.waitFor(isType('ready'));

    const started = Date.now();
    const res = await http('PUT', '/api/v1/availability/me', { cookie: a.cookie, body: { status: 'busy' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ userId: a.userId, status: 'busy' });
    const heard = await socket.waitFor(
      (f) => f.type === 'availability' && f.userId === a.userId && f.status === 'busy',
      { timeoutMs: 1000 },
    );
    expect(heard).toBeTruthy();
    expect(Date.now() - started).toBeLessThan(1000);

    const seen = await list(b.cookie);
    expect(seen.find((v) => v.userId === a.userId)).toMatchObject({ status: 'busy', connected: false });
    // b has a socket open: connected.
    expect(seen.find((v) => v.userId === b.userId)).toMatchObject({ status: 'online', connected: true });
    // Stored: a later read (another request, any replica) gives the same.
    const stored = await t.container.db
      .selectFrom('agent_availability')
      .select('status')
      .where('user_id', '=', a.userId)
      .executeTakeFirstOrThrow();
    expect(stored.status).toBe('busy');
  });

  it('scopes the list: agents see their teams, supervisors and admins everyone', async () => {
    const { admin, a, b, stranger, supervisor } = await setup;
    const ids = (views: View[]) => views.map((v) => v.userId);
    const forA = ids(await list(a.cookie));
    expect(forA).toEqual(expect.arrayContaining([a.userId, b.userId]));
    expect(forA).not.toContain(stranger.userId);
    for (const who of [supervisor, admin]) {
      expect(ids(await list(who.cookie))).toEqual(
        expect.arrayContaining([a.userId, b.userId, stranger.userId, supervisor.userId]),
      );
    }
  });

  it('every role but the auditor may set their own; bad values name the field; nobody sets another’s', async () => {
    const { supervisor, admin, a } = await setup;
    for (const who of [supervisor, admin]) {
      const res = await http('PUT', '/api/v1/availability/me', {
        cookie: who.cookie,
        body: { status: 'away' },
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    const bad = await http('PUT', '/api/v1/availability/me', {
      cookie: a.cookie,
      body: { status: 'sleeping' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('status');
    const extra = await http('PUT', '/api/v1/availability/me', {
      cookie: a.cookie,
      body: { status: 'online', userId: admin.userId },
    });
    expect(extra.statusCode).toBe(400);
    const auditor = await signIn(t, 'auditor');
    expect(
      (await http('PUT', '/api/v1/availability/me', { cookie: auditor.cookie, body: { status: 'online' } }))
        .statusCode,
    ).toBe(403);
    expect((await http('GET', '/api/v1/availability', { cookie: auditor.cookie })).statusCode).toBe(403);
    expect((await http('GET', '/api/v1/availability')).statusCode).toBe(401);
    // The service checks too (a route mistake cannot widen access).
    await expect(
      t.container.availability.setOwn(
        {
          userId: auditor.userId,
          username: auditor.username,
          role: 'auditor',
          teamIds: [],
          ip: null,
          userAgent: null,
        } as never,
        'online',
      ),
    ).rejects.toThrow(/permission/i);
  });
});
