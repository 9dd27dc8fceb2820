// The routing engine (modules/routing, docs/ROUTING.md) against real PostgreSQL and real sockets:
// strategies, sticky agent, priority order, capacity, first-response timeout, going offline,
// overflow, removal from a team, the sweep, and the HTTP API (validation, scope, queue view).
// Each test has its own team and website, so tests do not see each other's queues. Time-based
// rules are driven by `routing.tick(now)` with a time in the future: no sleeps.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, httpClient, signIn } from '../support/app.ts';
import { TestSocket, isType } from '../support/realtime.ts';

const t = await createTestApp({ PARLEY_ROUTING_ENABLED: 'true', PARLEY_ROUTING_OFFLINE_GRACE_SECONDS: '30' });
await t.app.listen({ host: '127.0.0.1', port: 0 });
const address = t.app.server.address();
const wsBase = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const http = httpClient(t);
const db = t.container.db;
const routing = t.container.routing;
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
  await routing.stop();
});

const admin = await signIn(t, 'admin');

async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | null | false>, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    await routing.idle();
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A team with its own website (the website's default team is the team). */
async function teamWithSite(settings: Record<string, unknown> = {}) {
  const team = (
    await http('POST', '/api/v1/teams', { cookie: admin.cookie, body: { name: `路由-${randomUUID()}` } })
  ).json<{ id: string }>();
  const channel = await db
    .insertInto('channels')
    .values({
      type: 'web_widget',
      name: `site-${randomUUID()}`,
      identity_secret: randomBytes(16).toString('hex'),
      default_team_id: team.id,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (Object.keys(settings).length > 0) {
    const res = await http('PATCH', `/api/v1/routing/teams/${team.id}/settings`, {
      cookie: admin.cookie,
      body: settings,
    });
    expect(res.statusCode, res.body).toBe(200);
  }
  return { teamId: team.id, channelId: channel.id };
}

/** An agent of the team with the console open (presence) and status online. */
async function onlineAgent(teamId: string) {
  const a = await signIn(t, 'agent', { teamIds: [teamId] });
  const socket = await TestSocket.open(`${wsBase}/api/v1/ws`, { cookie: a.cookie });
  sockets.push(socket);
  socket.send({ type: 'hello' });
  await socket.waitFor(isType('ready'));
  await waitUntil('presence', async () => t.container.hub.agentStatus(a.userId) !== 'offline');
  return { ...a, socket };
}

async function setStatus(cookie: string, status: string) {
  const res = await http('PUT', '/api/v1/availability/me', { cookie, body: { status } });
  expect(res.statusCode, res.body).toBe(200);
}

/** A visitor of the website who writes a first message; returns the conversation. */
async function arrive(channelId: string, opts: { vip?: boolean; token?: string } = {}) {
  let token = opts.token;
  let contactId: string;
  if (!token) {
    const session = await http('POST', '/api/v1/widget/session', { body: { channelId } });
    expect(session.statusCode, session.body).toBe(200);
    ({ token, contactId } = session.json<{ token: string; contactId: string }>());
    if (opts.vip)
      await db
        .updateTable('contacts')
        .set({ tags: ['VIP'] })
        .where('id', '=', contactId)
        .execute();
  }
  const conv = await http('POST', '/api/v1/widget/conversations', { token });
  expect(conv.statusCode, conv.body).toBe(200);
  const id = conv.json<{ id: string }>().id;
  const sent = await http('POST', `/api/v1/widget/conversations/${id}/messages`, {
    token,
    body: { clientId: `c-${randomUUID()}`, text: '你好，有人吗？' },
  });
  expect(sent.statusCode, sent.body).toBe(201);
  return { id, token };
}

async function assigneeOf(conversationId: string) {
  const r = await db
    .selectFrom('conversations')
    .select(['assignee_id', 'team_id'])
    .where('id', '=', conversationId)
    .executeTakeFirstOrThrow();
  return r.assignee_id;
}

async function loads(agentIds: string[]) {
  const rows = await db
    .selectFrom('conversations')
    .select(['assignee_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('assignee_id', 'in', agentIds)
    .where('status', 'in', ['open', 'pending'])
    .groupBy('assignee_id')
    .execute();
  return new Map(rows.map((r) => [r.assignee_id!, Number(r.n)]));
}

async function queueOf(teamId: string, cookie = admin.cookie) {
  const res = await http('GET', `/api/v1/routing/teams/${teamId}/queue`, { cookie });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{
    summary: { waiting: number; agentsOnline: number; freeSlots: number; longestWaitSeconds: number };
    waiting: { conversationId: string; priority: string; position: number }[];
    awaitingFirstResponse: { conversationId: string; assigneeId: string }[];
    agents: { userId: string; load: number; capacity: number; status: string; connected: boolean }[];
  }>();
}

async function routingEvents(conversationId: string) {
  const rows = await db
    .selectFrom('messages')
    .select(['event'])
    .where('conversation_id', '=', conversationId)
    .where('kind', '=', 'system')
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.event as Record<string, unknown>).filter((e) => e.type === 'assigned');
}

async function resolve(cookie: string, conversationId: string) {
  const res = await http('POST', `/api/v1/conversations/${conversationId}/resolve`, { cookie });
  expect(res.statusCode, res.body).toBe(200);
}

describe('automatic assignment', () => {
  it('least-loaded spreads arrivals evenly and never exceeds capacity; the rest waits in the queue', async () => {
    const { teamId, channelId } = await teamWithSite({ defaultCapacity: 2 });
    const agents = await Promise.all([onlineAgent(teamId), onlineAgent(teamId), onlineAgent(teamId)]);
    const ids = agents.map((a) => a.userId);
    const convs: { id: string; token: string }[] = [];
    for (let i = 0; i < 8; i++) convs.push(await arrive(channelId));
    await waitUntil(
      '6 assigned',
      async () => [...(await loads(ids)).values()].reduce((a, b) => a + b, 0) === 6,
    );
    await routing.tick();
    const l = await loads(ids);
    for (const id of ids) expect(l.get(id)).toBe(2);
    const q = await queueOf(teamId);
    expect(q.summary).toMatchObject({ waiting: 2, agentsOnline: 3, freeSlots: 0 });
    // The two that wait are the last two to arrive, in arrival order.
    expect(q.waiting.map((w) => w.conversationId)).toEqual([convs[6]!.id, convs[7]!.id]);
    // Every assignment is a system message by routing, with an audit record.
    const events = await routingEvents(convs[0]!.id);
    expect(events[0]).toMatchObject({ by: 'routing', reason: 'new', teamId });
    const audits = await db
      .selectFrom('audit_log')
      .select('action')
      .where('target_id', '=', convs[0]!.id)
      .where('action', '=', 'conversation.route')
      .execute();
    expect(audits).toHaveLength(1);

    // A freed slot (resolve) takes the head of the queue at once.
    const holder = (await assigneeOf(convs[0]!.id))!;
    await resolve(agents.find((a) => a.userId === holder)!.cookie, convs[0]!.id);
    await waitUntil('head assigned', async () => (await assigneeOf(convs[6]!.id)) === holder);
    expect(await assigneeOf(convs[7]!.id)).toBeNull();
  });

  it('round-robin takes agents in turn', async () => {
    const { teamId, channelId } = await teamWithSite({ strategy: 'round_robin', defaultCapacity: 10 });
    const agents = [await onlineAgent(teamId), await onlineAgent(teamId), await onlineAgent(teamId)];
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await arrive(channelId);
      order.push(await waitUntil('assigned', () => assigneeOf(c.id)));
    }
    // Each agent once per round, the same order in both rounds.
    expect(new Set(order.slice(0, 3)).size).toBe(3);
    expect(order.slice(3)).toEqual(order.slice(0, 3));
    expect(new Set(order)).toEqual(new Set(agents.map((a) => a.userId)));
  });

  it('orders the queue by priority then waiting time; an agent coming online takes the head', async () => {
    const { teamId, channelId } = await teamWithSite({ defaultCapacity: 1 });
    const a = await onlineAgent(teamId);
    await setStatus(a.cookie, 'busy');
    const first = await arrive(channelId);
    const second = await arrive(channelId);
    const vip = await arrive(channelId, { vip: true });
    await routing.idle();
    const q = await queueOf(teamId);
    expect(q.waiting.map((w) => [w.conversationId, w.priority, w.position])).toEqual([
      [vip.id, 'vip', 1],
      [first.id, 'normal', 2],
      [second.id, 'normal', 3],
    ]);
    await setStatus(a.cookie, 'online');
    await waitUntil('vip assigned', async () => (await assigneeOf(vip.id)) === a.userId);
    expect(await assigneeOf(first.id)).toBeNull();
    // Positions follow the true rank after an assignment.
    expect((await queueOf(teamId)).waiting.map((w) => [w.conversationId, w.position])).toEqual([
      [first.id, 1],
      [second.id, 2],
    ]);
    await resolve(a.cookie, vip.id);
    await waitUntil('oldest normal next', async () => (await assigneeOf(first.id)) === a.userId);
    expect(await assigneeOf(second.id)).toBeNull();
  });

  it('a returning customer goes back to their last agent (sticky) although another is less loaded', async () => {
    const { teamId, channelId } = await teamWithSite({ defaultCapacity: 5, stickyWindowMinutes: 60 });
    const a = await onlineAgent(teamId);
    const b = await onlineAgent(teamId);
    const c1 = await arrive(channelId);
    const first = await waitUntil('assigned', () => assigneeOf(c1.id));
    const other = first === a.userId ? b : a;
    const owner = first === a.userId ? a : b;
    // The owner gets busier than the other agent.
    for (let i = 0; i < 2; i++) {
      const c = await arrive(channelId);
      await waitUntil('assigned', () => assigneeOf(c.id));
    }
    await resolve(owner.cookie, c1.id);
    // Make the owner the more loaded one for sure.
    await db
      .updateTable('conversations')
      .set({ assignee_id: owner.userId })
      .where('team_id', '=', teamId)
      .where('status', '=', 'open')
      .execute();
    const again = await arrive(channelId, { token: c1.token });
    expect(again.id).not.toBe(c1.id);
    expect(await waitUntil('assigned', () => assigneeOf(again.id))).toBe(owner.userId);
    void other;
  });
});

describe('timeouts, offline and overflow', () => {
  it('first-response timeout: back to the queue with the reason, then to another agent', async () => {
    const { teamId, channelId } = await teamWithSite({ firstResponseSeconds: 60 });
    const a = await onlineAgent(teamId);
    const c = await arrive(channelId);
    await waitUntil('assigned to a', async () => (await assigneeOf(c.id)) === a.userId);
    const b = await onlineAgent(teamId);
    await routing.tick(new Date(Date.now() + 30_000));
    expect(await assigneeOf(c.id)).toBe(a.userId); // not due yet
    await routing.tick(new Date(Date.now() + 61_000));
    await waitUntil('reassigned to b', async () => (await assigneeOf(c.id)) === b.userId);
    const events = await routingEvents(c.id);
    expect(events.map((e) => [e.reason, e.fromAssigneeId, e.assigneeId])).toEqual([
      ['new', null, a.userId],
      ['first_response_timeout', a.userId, null],
      ['first_response_timeout', null, b.userId],
    ]);
  });

  it('an answer in time ends the timer: nothing happens at the due time', async () => {
    const { teamId, channelId } = await teamWithSite({ firstResponseSeconds: 60 });
    const a = await onlineAgent(teamId);
    const c = await arrive(channelId);
    await waitUntil('assigned to a', async () => (await assigneeOf(c.id)) === a.userId);
    await onlineAgent(teamId); // someone it could go to
    const res = await http('POST', `/api/v1/conversations/${c.id}/messages`, {
      cookie: a.cookie,
      body: { clientId: `a-${randomUUID()}`, text: '您好，我来帮您' },
    });
    expect(res.statusCode, res.body).toBe(201);
    await waitUntil('timer ended', async () => (await queueOf(teamId)).awaitingFirstResponse.length === 0);
    await routing.tick(new Date(Date.now() + 120_000));
    await routing.idle();
    expect(await assigneeOf(c.id)).toBe(a.userId);
  });

  it('an agent who loses their socket past the grace period gives back unanswered conversations', async () => {
    const { teamId, channelId } = await teamWithSite();
    const a = await onlineAgent(teamId);
    const c = await arrive(channelId);
    await waitUntil('assigned to a', async () => (await assigneeOf(c.id)) === a.userId);
    await a.socket.close();
    await waitUntil('a offline', async () => t.container.hub.agentStatus(a.userId) === 'offline');
    const b = await onlineAgent(teamId);
    const now = Date.now();
    await routing.tick(new Date(now));
    expect(await assigneeOf(c.id)).toBe(a.userId); // within the grace period
    await routing.tick(new Date(now + 31_000));
    await waitUntil('reassigned to b', async () => (await assigneeOf(c.id)) === b.userId);
    expect((await routingEvents(c.id))[1]).toMatchObject({
      reason: 'agent_offline',
      fromAssigneeId: a.userId,
    });
  });

  it('an agent who sets status offline gives back unanswered conversations at once', async () => {
    const { teamId, channelId } = await teamWithSite();
    const a = await onlineAgent(teamId);
    const c = await arrive(channelId);
    await waitUntil('assigned to a', async () => (await assigneeOf(c.id)) === a.userId);
    await setStatus(a.cookie, 'offline');
    await waitUntil('back in queue', async () => (await assigneeOf(c.id)) === null);
    const b = await onlineAgent(teamId);
    await routing.tick();
    await waitUntil('to b', async () => (await assigneeOf(c.id)) === b.userId);
  });

  it('overflow: past the queue limit, new conversations go to the backup team', async () => {
    const backup = await teamWithSite();
    const { teamId, channelId } = await teamWithSite({
      overflowTeamId: backup.teamId,
      overflowMaxWaiting: 1,
    });
    const stuck = await onlineAgent(teamId);
    await setStatus(stuck.cookie, 'busy'); // nobody available in the main team
    const c1 = await arrive(channelId);
    await routing.idle();
    const helper = await onlineAgent(backup.teamId);
    const c2 = await arrive(channelId);
    await waitUntil('c2 to backup', async () => (await assigneeOf(c2.id)) === helper.userId);
    const r = await db
      .selectFrom('conversations')
      .select('team_id')
      .where('id', '=', c2.id)
      .executeTakeFirstOrThrow();
    expect(r.team_id).toBe(backup.teamId);
    expect((await routingEvents(c2.id))[0]).toMatchObject({ reason: 'overflow', teamId: backup.teamId });
    expect(await assigneeOf(c1.id)).toBeNull();
    expect((await queueOf(teamId)).waiting.map((w) => w.conversationId)).toEqual([c1.id]);
  });

  it('overflow: waiting past the threshold moves to the backup team', async () => {
    const backup = await teamWithSite();
    const { channelId } = await teamWithSite({
      overflowTeamId: backup.teamId,
      overflowWaitSeconds: 120,
    });
    const c = await arrive(channelId);
    await routing.idle();
    const helper = await onlineAgent(backup.teamId);
    await routing.tick(new Date(Date.now() + 60_000));
    expect(await assigneeOf(c.id)).toBeNull();
    await routing.tick(new Date(Date.now() + 121_000));
    await waitUntil('moved and assigned', async () => (await assigneeOf(c.id)) === helper.userId);
  });

  it('an agent removed from the team gives its conversations back to the queue', async () => {
    const { teamId, channelId } = await teamWithSite();
    const a = await onlineAgent(teamId);
    const c = await arrive(channelId);
    await waitUntil('assigned to a', async () => (await assigneeOf(c.id)) === a.userId);
    const b = await onlineAgent(teamId);
    const res = await http('DELETE', `/api/v1/teams/${teamId}/members/${a.userId}`, { cookie: admin.cookie });
    expect(res.statusCode, res.body).toBe(200);
    await waitUntil('to b', async () => (await assigneeOf(c.id)) === b.userId);
    expect((await routingEvents(c.id))[1]).toMatchObject({ reason: 'removed_from_team' });
  });

  it('the sweep finds an unassigned conversation that never got a queue row (crash after commit)', async () => {
    const { teamId, channelId } = await teamWithSite();
    const a = await onlineAgent(teamId);
    await setStatus(a.cookie, 'busy');
    const c = await arrive(channelId);
    await routing.idle();
    await db.deleteFrom('routing_queue').where('conversation_id', '=', c.id).execute(); // the lost enqueue
    await setStatus(a.cookie, 'online');
    await routing.idle();
    expect(await assigneeOf(c.id)).toBeNull();
    await routing.tick(new Date(Date.now() + 3_600_000)); // sweep is due
    await waitUntil('assigned after sweep', async () => (await assigneeOf(c.id)) === a.userId);
  });
});

describe('routing API', () => {
  it('refuses a capacity of 0 or 10000 naming the field, and saves nothing', async () => {
    const { teamId } = await teamWithSite();
    const member = await signIn(t, 'agent', { teamIds: [teamId] });
    for (const capacity of [0, 10000]) {
      for (const [url, body] of [
        [`/api/v1/routing/teams/${teamId}/settings`, { defaultCapacity: capacity }],
        [`/api/v1/routing/teams/${teamId}/members/${member.userId}`, { capacity }],
        [`/api/v1/routing/agents/${member.userId}`, { capacity }],
      ] as const) {
        const res = await http('PATCH', url, { cookie: admin.cookie, body });
        expect(res.statusCode, url).toBe(400);
        expect(res.json<{ error: { field: string } }>().error.field).toMatch(/capacity|defaultCapacity/i);
      }
    }
    expect(
      await db.selectFrom('routing_team_settings').selectAll().where('team_id', '=', teamId).execute(),
    ).toEqual([]);
    expect(
      await db.selectFrom('routing_member_capacity').selectAll().where('team_id', '=', teamId).execute(),
    ).toEqual([]);
    expect(
      await db.selectFrom('routing_agents').selectAll().where('user_id', '=', member.userId).execute(),
    ).toEqual([]);
  });

  it('a membership capacity overrides the agent default and shows in the queue view; audited', async () => {
    const { teamId } = await teamWithSite({ defaultCapacity: 3 });
    const m = await onlineAgent(teamId);
    const res = await http('PATCH', `/api/v1/routing/teams/${teamId}/members/${m.userId}`, {
      cookie: admin.cookie,
      body: { capacity: 7 },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ userId: m.userId, capacity: 7, load: 0, available: true });
    const q = await queueOf(teamId);
    expect(q.agents).toEqual([
      expect.objectContaining({ userId: m.userId, capacity: 7, status: 'online', connected: true }),
    ]);
    expect(q.summary.freeSlots).toBe(7);
    const audit = await db
      .selectFrom('audit_log')
      .select('action')
      .where('target_id', '=', m.userId)
      .where('action', '=', 'routing.member_update')
      .execute();
    expect(audit).toHaveLength(1);
  });

  it('supervisors manage their own teams only: settings, member status and capacity', async () => {
    const own = await teamWithSite();
    const other = await teamWithSite();
    const sup = await signIn(t, 'supervisor', { teamIds: [own.teamId] });
    const member = await signIn(t, 'agent', { teamIds: [own.teamId] });
    const stranger = await signIn(t, 'agent', { teamIds: [other.teamId] });
    expect(
      (await http('GET', `/api/v1/routing/teams/${own.teamId}/settings`, { cookie: sup.cookie })).statusCode,
    ).toBe(200);
    expect(
      (await http('GET', `/api/v1/routing/teams/${other.teamId}/queue`, { cookie: sup.cookie })).statusCode,
    ).toBe(403);
    expect(
      (
        await http('PATCH', `/api/v1/routing/teams/${other.teamId}/settings`, {
          cookie: sup.cookie,
          body: { strategy: 'round_robin' },
        })
      ).statusCode,
    ).toBe(403);
    const set = await http('PATCH', `/api/v1/routing/teams/${own.teamId}/members/${member.userId}`, {
      cookie: sup.cookie,
      body: { status: 'away', capacity: 2 },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ status: 'away', capacity: 2 });
    expect(
      (
        await http('PATCH', `/api/v1/routing/agents/${stranger.userId}`, {
          cookie: sup.cookie,
          body: { capacity: 3 },
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (
        await http('PATCH', `/api/v1/routing/agents/${member.userId}`, {
          cookie: sup.cookie,
          body: { capacity: 3 },
        })
      ).statusCode,
    ).toBe(200);
    // Agents do not manage routing.
    expect(
      (await http('GET', `/api/v1/routing/teams/${own.teamId}/queue`, { cookie: member.cookie })).statusCode,
    ).toBe(403);
  });

  it('refuses an overflow team that does not exist or is the team itself', async () => {
    const { teamId } = await teamWithSite();
    for (const overflowTeamId of [randomUUID(), teamId]) {
      const res = await http('PATCH', `/api/v1/routing/teams/${teamId}/settings`, {
        cookie: admin.cookie,
        body: { overflowTeamId, overflowMaxWaiting: 3 },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json<{ error: { field: string } }>().error.field).toBe('overflowTeamId');
    }
  });
});
