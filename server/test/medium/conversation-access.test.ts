// Who may see a conversation, as it changes: visibility checked under the row lock when an
// agent sends, and team or assignment changes applied to open agent sockets at once.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, signIn, httpClient } from '../support/app.ts';
import { TestSocket, isType } from '../support/realtime.ts';

// Access mechanics with manual assignment: automatic assignment (routing, tested in
// routing-engine.test.ts) would hand the conversations to the connected agent mid-test.
const t = await createTestApp({ PARLEY_ROUTING_ENABLED: 'false' });
await t.app.listen({ host: '127.0.0.1', port: 0 });
const address = t.app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
const wsBase = `ws://127.0.0.1:${port}`;
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
});

const inject = httpClient(t);
async function http(
  method: string,
  url: string,
  opts: { cookie?: string; token?: string; body?: unknown } = {},
) {
  const res = await inject(method, url, opts);
  return { status: res.statusCode, json: () => res.json<Record<string, unknown>>() };
}

async function visitor() {
  const session = await http('POST', '/api/v1/widget/session', { body: {} });
  const token = session.json().token as string;
  const conv = await http('POST', '/api/v1/widget/conversations', { token });
  return { token, conversationId: conv.json().id as string };
}

async function agentSocket(cookie: string) {
  const s = await TestSocket.open(`${wsBase}/api/v1/ws`, { cookie });
  sockets.push(s);
  s.send({ type: 'hello' });
  await s.waitFor(isType('ready'));
  return s;
}

async function createTeam() {
  const row = await t.container.db
    .insertInto('teams')
    .values({ name: `team-${randomUUID().slice(0, 8)}` })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function routeTo(conversationId: string, teamId: string) {
  await t.container.db
    .updateTable('conversations')
    .set({ team_id: teamId })
    .where('id', '=', conversationId)
    .execute();
}

describe('agent visibility under the conversation row lock', () => {
  it('a send waiting on the row lock behind a transfer to another team is refused (404), nothing stored', async () => {
    const teamA = await createTeam();
    const teamB = await createTeam();
    const agent = await signIn(t, 'agent', { teamIds: [teamA] });
    const v = await visitor();
    await routeTo(v.conversationId, teamA);
    // Visible now: a first send goes through.
    const first = await http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: agent.cookie,
      body: { clientId: randomUUID(), text: 'before the transfer' },
    });
    expect(first.status).toBe(201);

    // A concurrent transfer holds the row lock; the agent's send starts meanwhile and waits.
    const locker = new pg.Client({ connectionString: t.database.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('update conversations set team_id = $1 where id = $2', [teamB, v.conversationId]);
      const clientId = randomUUID();
      const send = http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
        cookie: agent.cookie,
        body: { clientId, text: 'one more after the transfer' },
      });
      // Wait until the send is blocked on the lock held by the transfer.
      for (let i = 0; ; i++) {
        const { rows } = await locker.query<{ n: number }>(
          `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where not l.granted and a.datname = current_database()`,
        );
        if (rows[0]!.n > 0) break;
        if (i > 1200) throw new Error('the send never waited on the row lock (30 s)');
        await new Promise((r) => setTimeout(r, 25));
      }
      await locker.query('commit');
      const res = await send;
      expect(res.status).toBe(404);
      const stored = await t.container.db
        .selectFrom('messages')
        .select('id')
        .where('conversation_id', '=', v.conversationId)
        .where('client_id', '=', clientId)
        .execute();
      expect(stored).toHaveLength(0);
    } finally {
      await locker.end();
    }
  });

  it('uses the live team membership: removed from the team, the next send is refused', async () => {
    const team = await createTeam();
    const agent = await signIn(t, 'agent', { teamIds: [team] });
    const v = await visitor();
    await routeTo(v.conversationId, team);
    const s = await agentSocket(agent.cookie);
    s.send({
      type: 'send',
      ref: 'a',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'in team',
    });
    await s.waitFor(isType('ack', (a) => a.ref === 'a'));
    await t.container.db.deleteFrom('team_members').where('user_id', '=', agent.userId).execute();
    s.send({ type: 'send', ref: 'b', conversationId: v.conversationId, clientId: randomUUID(), text: 'out' });
    const err = await s.waitFor(isType('error', (e) => e.ref === 'b'));
    expect(err.code).toBe('not_found');
  });
});

async function visitorSays(v: { token: string; conversationId: string }, text: string) {
  const res = await http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
    token: v.token,
    body: { clientId: randomUUID(), text },
  });
  expect(res.status).toBe(201);
}

/** Everything the socket received about a conversation after frame index `from`. */
async function framesAbout(s: TestSocket, conversationId: string, from: number) {
  const ref = randomUUID();
  s.send({ type: 'ping', ref });
  await s.waitFor(isType('pong', (p) => p.ref === ref));
  return s.frames.slice(from).filter((f) => JSON.stringify(f).includes(conversationId));
}

describe('access changes applied to open agent sockets', () => {
  it('removed from a team: the socket is told at once and hears nothing more of its conversations', async () => {
    const team = await createTeam();
    const agent = await signIn(t, 'agent', { teamIds: [team] });
    const admin = await signIn(t, 'admin');
    const v = await visitor();
    await routeTo(v.conversationId, team);
    const s = await agentSocket(agent.cookie);
    await visitorSays(v, 'hello team');
    await s.waitFor(isType('message', (m) => m.message.text === 'hello team'));

    const removed = await http('DELETE', `/api/v1/teams/${team}/members/${agent.userId}`, {
      cookie: admin.cookie,
    });
    expect(removed.status).toBe(200);
    expect(await s.waitFor(isType('access_changed'))).toMatchObject({ teamIds: [] });
    expect(await s.waitFor(isType('conversation_removed'))).toMatchObject({
      conversationId: v.conversationId,
      reason: 'access_changed',
    });
    const mark = s.frames.length;
    await visitorSays(v, 'after the removal');
    expect(await framesAbout(s, v.conversationId, mark)).toEqual([]);

    // Added back: live traffic of the team flows again on the same socket.
    const added = await http('PUT', `/api/v1/teams/${team}/members/${agent.userId}`, {
      cookie: admin.cookie,
    });
    expect(added.status).toBe(200);
    await s.waitFor(isType('access_changed', (a) => a.teamIds.includes(team)));
    await visitorSays(v, 'back in the team');
    await s.waitFor(isType('message', (m) => m.message.text === 'back in the team'));
  });

  it("a conversation moved to another team leaves the former team's view with one event", async () => {
    const teamA = await createTeam();
    const teamB = await createTeam();
    const agentA = await signIn(t, 'agent', { teamIds: [teamA] });
    const agentB = await signIn(t, 'agent', { teamIds: [teamB] });
    const supervisor = await signIn(t, 'admin');
    const v = await visitor();
    await routeTo(v.conversationId, teamA);
    const sA = await agentSocket(agentA.cookie);
    const sB = await agentSocket(agentB.cookie);
    await visitorSays(v, 'first');
    await sA.waitFor(isType('message', (m) => m.message.text === 'first'));

    const moved = await http('POST', `/api/v1/conversations/${v.conversationId}/assign`, {
      cookie: supervisor.cookie,
      body: { assigneeId: agentB.userId, teamId: teamB },
    });
    expect(moved.status).toBe(200);
    expect(await sA.waitFor(isType('conversation_removed'))).toMatchObject({
      conversationId: v.conversationId,
      reason: 'reassigned',
    });
    const mark = sA.frames.length;
    await visitorSays(v, 'for team B now');
    await sB.waitFor(isType('message', (m) => m.message.text === 'for team B now'));
    expect(await framesAbout(sA, v.conversationId, mark)).toEqual([]);
    expect(sB.frames.some((f) => f.type === 'conversation_removed')).toBe(false);
  });
});

describe('role and account changes end open agent sockets at once', () => {
  it('a new role closes the socket (1008) well before its next heartbeat', async () => {
    const agent = await signIn(t, 'agent');
    const admin = await signIn(t, 'admin');
    const s = await agentSocket(agent.cookie);
    const started = Date.now();
    const changed = await http('PATCH', `/api/v1/users/${agent.userId}`, {
      cookie: admin.cookie,
      body: { role: 'supervisor' },
    });
    expect(changed.status).toBe(200);
    const closed = await s.closed;
    expect(closed.code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(s.frames.some((f) => f.type === 'error' && f.code === 'unauthorized')).toBe(true);
  });
});
