// Two real server processes on one database: presence is the same from either replica (and
// expires when a replica dies), and team changes made on one replica apply at once to an
// agent socket open on the other.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { isType, openReady, TestSocket } from '../support/realtime.ts';
import { login, startServer, visitorOn } from '../support/server-process.ts';

const database = await createTestDatabase();
const env = { PARLEY_REALTIME_CATCHUP_SECONDS: '3600', PARLEY_PRESENCE_TTL_SECONDS: '3' };
const a = await startServer(database.url, env);
const b = await startServer(database.url, env);
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
  await Promise.all([a.stop(), b.stop()]);
});
const ADMIN_PASSWORD = 'e2e-admin-password-0123';

async function json(method: string, url: string, cookie: string, body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: { cookie, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const open = (url: string, headers: Record<string, string>, hello: Record<string, unknown>) =>
  openReady(url, headers, hello, sockets);

/** A user with a role and teams, created through the API; returns its id and a cookie on `base`. */
async function user(adminCookie: string, role: string, teamIds: string[], base: string) {
  const username = `u${randomUUID().slice(0, 8)}`;
  const created = await json('POST', `${a.base}/api/v1/users`, adminCookie, {
    username,
    displayName: username,
    role,
  });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  const id = (created.json.user as { id: string }).id;
  const password = created.json.oneTimePassword as string;
  for (const team of teamIds) {
    expect((await json('PUT', `${a.base}/api/v1/teams/${team}/members/${id}`, adminCookie)).status).toBe(200);
  }
  return { id, cookie: await login(base, username, password) };
}

describe('presence across replicas', () => {
  it('an agent on A sees agents and visitors connected to C, away included, and forgets them when C dies', async () => {
    const c = await startServer(database.url, env);
    const adminA = await login(a.base, 'admin', ADMIN_PASSWORD);
    const watcher = await open(`${a.wsBase}/api/v1/ws`, { cookie: adminA }, {});
    const v = await visitorOn(c.base);
    const visitor = await open(`${c.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    visitor.send({ type: 'resume', conversations: [{ conversationId: v.conversationId, lastSeq: 0 }] });
    await watcher.waitFor(
      isType('visitor_presence', (p) => p.conversationId === v.conversationId && p.online),
    );

    // A second agent connected to C only: seen online, then away, from A.
    const team = (
      await json('POST', `${a.base}/api/v1/teams`, adminA, { name: `p-${randomUUID().slice(0, 6)}` })
    ).json.id as string;
    const agent = await user(adminA, 'agent', [team], c.base);
    const agentSocket = await open(`${c.wsBase}/api/v1/ws`, { cookie: agent.cookie }, {});
    await watcher.waitFor(isType('presence', (p) => p.userId === agent.id && p.status === 'online'));
    agentSocket.send({ type: 'presence', ref: 'away', status: 'away' });
    await agentSocket.waitFor(isType('ok', (o) => o.ref === 'away'));
    await watcher.waitFor(isType('presence', (p) => p.userId === agent.id && p.status === 'away'));
    // A socket opened on A later learns the current state at once: with its `ready`, before
    // the answer to a ping sent right after hello (frames of one socket are handled in order).
    // No time bound: changes are only announced when they happen, so a late socket has no
    // other way to learn it.
    const late = await TestSocket.open(`${a.wsBase}/api/v1/ws`, { cookie: adminA });
    sockets.push(late);
    late.send({ type: 'hello' });
    late.send({ type: 'ping', ref: 'after-hello' });
    await late.waitFor(isType('pong'), { timeoutMs: 15_000 });
    const beforePong = late.frames.slice(
      0,
      late.frames.findIndex((f) => f.type === 'pong'),
    );
    expect(beforePong.filter(isType('presence', (p) => p.userId === agent.id)).map((p) => p.status)).toEqual([
      'away',
    ]);
    late.send({ type: 'resume', conversations: [{ conversationId: v.conversationId, lastSeq: 0 }] });
    await late.waitFor(isType('visitor_presence', (p) => p.conversationId === v.conversationId && p.online));

    // C dies without a word: within the TTL (3 s) A forgets what C said.
    await c.kill9();
    await watcher.waitFor(
      isType('presence', (p) => p.userId === agent.id && p.status === 'offline'),
      {
        timeoutMs: 8000,
      },
    );
    await watcher.waitFor(
      isType('visitor_presence', (p) => p.conversationId === v.conversationId && !p.online),
      {
        timeoutMs: 8000,
      },
    );
  });
});

describe('presence of a visitor who never resumes', () => {
  it('a visitor socket that only writes is present in that conversation until it closes', async () => {
    const adminA = await login(a.base, 'admin', ADMIN_PASSWORD);
    const watcher = await open(`${a.wsBase}/api/v1/ws`, { cookie: adminA }, {});
    const v = await visitorOn(b.base);
    const visitor = await open(`${b.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    visitor.send({
      type: 'send',
      ref: 's1',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: '在吗',
    });
    await visitor.waitFor(isType('ack', (x) => x.ref === 's1'));
    await watcher.waitFor(
      isType('visitor_presence', (p) => p.conversationId === v.conversationId && p.online),
    );
    await visitor.close();
    await watcher.waitFor(
      isType('visitor_presence', (p) => p.conversationId === v.conversationId && !p.online),
    );
  });
});

describe('access changes across replicas', () => {
  it('removing an agent from a team on A stops the conversation reaching their socket on B at once', async () => {
    const adminA = await login(a.base, 'admin', ADMIN_PASSWORD);
    const team = (
      await json('POST', `${a.base}/api/v1/teams`, adminA, { name: `r-${randomUUID().slice(0, 6)}` })
    ).json.id as string;
    const agent = await user(adminA, 'agent', [team], b.base);
    const v = await visitorOn(a.base);
    const assigned = await json('POST', `${a.base}/api/v1/conversations/${v.conversationId}/assign`, adminA, {
      assigneeId: null,
      teamId: team,
    });
    expect(assigned.status).toBe(200);
    const socket = await open(`${b.wsBase}/api/v1/ws`, { cookie: agent.cookie }, {});
    const visitor = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    visitor.send({ type: 'send', conversationId: v.conversationId, clientId: randomUUID(), text: 'before' });
    await socket.waitFor(isType('message', (m) => m.message.text === 'before'));

    expect((await json('DELETE', `${a.base}/api/v1/teams/${team}/members/${agent.id}`, adminA)).status).toBe(
      200,
    );
    await socket.waitFor(isType('access_changed', (e) => e.teamIds.length === 0));
    await socket.waitFor(isType('conversation_removed', (e) => e.conversationId === v.conversationId));
    const mark = socket.frames.length;
    visitor.send({
      type: 'send',
      ref: 'after',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'after',
    });
    await visitor.waitFor(isType('ack', (x) => x.ref === 'after'));
    // An admin on B does get it (so delivery on B happened), the removed agent does not.
    const adminB = await open(
      `${b.wsBase}/api/v1/ws`,
      { cookie: await login(b.base, 'admin', ADMIN_PASSWORD) },
      {
        resume: [{ conversationId: v.conversationId, lastSeq: 0 }],
      },
    );
    await adminB.waitFor(isType('message', (m) => m.message.text === 'after'));
    const ref = randomUUID();
    socket.send({ type: 'ping', ref });
    await socket.waitFor(isType('pong', (p) => p.ref === ref));
    expect(socket.frames.slice(mark).filter((f) => f.type === 'message')).toEqual([]);
  });
});

describe('transfers across replicas', () => {
  it("a conversation moved to another team on A leaves the former team's view on B; the visitor's presence follows it", async () => {
    const adminA = await login(a.base, 'admin', ADMIN_PASSWORD);
    const newTeam = async () =>
      (await json('POST', `${a.base}/api/v1/teams`, adminA, { name: `x-${randomUUID().slice(0, 6)}` })).json
        .id as string;
    const [team1, team2] = [await newTeam(), await newTeam()];
    const agent1 = await user(adminA, 'agent', [team1], b.base);
    const agent2 = await user(adminA, 'agent', [team2], a.base);
    const v = await visitorOn(a.base);
    await json('POST', `${a.base}/api/v1/conversations/${v.conversationId}/assign`, adminA, {
      assigneeId: null,
      teamId: team1,
    });
    const s1 = await open(`${b.wsBase}/api/v1/ws`, { cookie: agent1.cookie }, {});
    const s2 = await open(`${a.wsBase}/api/v1/ws`, { cookie: agent2.cookie }, {});
    const visitor = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    visitor.send({ type: 'resume', conversations: [{ conversationId: v.conversationId, lastSeq: 0 }] });
    await s1.waitFor(isType('visitor_presence', (p) => p.conversationId === v.conversationId && p.online));

    const moved = await json('POST', `${a.base}/api/v1/conversations/${v.conversationId}/assign`, adminA, {
      assigneeId: null,
      teamId: team2,
    });
    expect(moved.status).toBe(200);
    expect(await s1.waitFor(isType('conversation_removed'))).toMatchObject({
      conversationId: v.conversationId,
      reason: 'reassigned',
    });
    const mark = s1.frames.length;
    await visitor.close();
    await s2.waitFor(isType('visitor_presence', (p) => p.conversationId === v.conversationId && !p.online));
    const ref = randomUUID();
    s1.send({ type: 'ping', ref });
    await s1.waitFor(isType('pong', (p) => p.ref === ref));
    expect(s1.frames.slice(mark).filter((f) => JSON.stringify(f).includes(v.conversationId))).toEqual([]);
  });
});
