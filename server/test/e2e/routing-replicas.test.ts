// The routing engine's claim under replicas (modules/routing/assignment.ts, docs/ROUTING.md):
// two real server processes on one database, 50 agents (sockets spread over both), 500 visitors
// arriving through both at once, then agents resolving in waves so freed slots are taken by both
// replicas concurrently. Checked in the database: no conversation assigned twice, no agent ever
// over capacity (sampled all along, and exact at the end of the arrival phase, when loads only
// grow), and every conversation assigned in the end.
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { openReady, type TestSocket } from '../support/realtime.ts';
import { login, postJson, startServer } from '../support/server-process.ts';
import { PROCESS_TEST_MS } from '../support/process.ts';

const AGENTS = 50;
const CONVERSATIONS = 500;
const CAPACITY = 3;

const database = await createTestDatabase();
const env = {
  PARLEY_REALTIME_CATCHUP_SECONDS: '3600',
  PARLEY_ROUTING_ENABLED: 'true',
  PARLEY_ROUTING_TICK_MS: '200',
  PARLEY_WS_MAX_CONNECTIONS_PER_IP: '10000',
  PUBLIC_RATE_LIMIT_PER_MINUTE: '100000',
};
const a = await startServer(database.url, env);
const b = await startServer(database.url, env);
const replicas = [a, b];
const sockets: TestSocket[] = [];
const client = new pg.Client({ connectionString: database.url });
await client.connect();
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
  await client.end();
  await Promise.all([a.stop(), b.stop()]);
});

async function json(method: string, url: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown>, text };
}

/** Runs `work` over `items` with at most `n` at a time. */
async function pool<T>(items: T[], n: number, work: (item: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i]!, i);
      }
    }),
  );
}

async function overCapacity(): Promise<{ assignee_id: string; n: string }[]> {
  const r = await client.query<{ assignee_id: string; n: string }>(
    `select assignee_id, count(*) as n from conversations
      where status in ('open', 'pending') and assignee_id is not null
      group by assignee_id having count(*) > $1`,
    [CAPACITY],
  );
  return r.rows;
}

async function routingAssignments(): Promise<Map<string, number>> {
  const r = await client.query<{ conversation_id: string; n: string }>(
    `select conversation_id, count(*) as n from messages
      where kind = 'system' and event->>'by' = 'routing' and event->>'assigneeId' is not null
      group by conversation_id`,
  );
  return new Map(r.rows.map((x) => [x.conversation_id, Number(x.n)]));
}

describe('routing under two replicas', () => {
  it(
    `${CONVERSATIONS} arrivals, ${AGENTS} agents: never assigned twice, never over capacity`,
    async () => {
      const adminCookie = await login(a.base, 'admin', 'e2e-admin-password-0123');
      const admin = { cookie: adminCookie, origin: a.base };
      const team = await json('POST', `${a.base}/api/v1/teams`, admin, {
        name: `r-${randomUUID().slice(0, 6)}`,
      });
      expect(team.status, team.text).toBe(201);
      const teamId = team.json.id as string;
      const settings = await json('PATCH', `${a.base}/api/v1/routing/teams/${teamId}/settings`, admin, {
        defaultCapacity: CAPACITY,
        firstResponseSeconds: 86400,
      });
      expect(settings.status, settings.text).toBe(200);
      const channel = await client.query<{ id: string }>(
        `insert into channels (type, name, identity_secret, default_team_id)
         values ('web_widget', $1, $2, $3) returning id`,
        [`site-${randomUUID()}`, randomBytes(16).toString('hex'), teamId],
      );
      const channelId = channel.rows[0]!.id;

      // 50 agents, each with the console open on one of the two replicas.
      const agents: { id: string; cookies: string[] }[] = [];
      await pool(
        Array.from({ length: AGENTS }, (_, i) => i),
        5,
        async (i) => {
          const username = `ag${i}-${randomUUID().slice(0, 6)}`;
          const created = await json('POST', `${a.base}/api/v1/users`, admin, {
            username,
            displayName: username,
            role: 'agent',
          });
          expect(created.status, created.text).toBe(201);
          const id = (created.json.user as { id: string }).id;
          const put = await json('PUT', `${a.base}/api/v1/teams/${teamId}/members/${id}`, admin);
          expect(put.status, put.text).toBe(200);
          const password = created.json.oneTimePassword as string;
          const cookies = [await login(a.base, username, password), await login(b.base, username, password)];
          const home = replicas[i % 2]!;
          await openReady(`${home.wsBase}/api/v1/ws`, { cookie: cookies[i % 2]! }, {}, sockets);
          agents.push({ id, cookies });
        },
      );
      // Both replicas see all 50 online (presence crosses replicas) before visitors come.
      for (const r of replicas) {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const q = await json('GET', `${r.base}/api/v1/routing/teams/${teamId}/queue`, {
            cookie: adminCookie,
          });
          if ((q.json.summary as { agentsOnline: number } | undefined)?.agentsOnline === AGENTS) break;
          if (Date.now() > deadline) throw new Error(`replica did not see ${AGENTS} agents: ${q.text}`);
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      // The capacity sampler runs for the whole test.
      const breaches: unknown[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          breaches.push(...(await overCapacity()));
          await new Promise((res) => setTimeout(res, 20));
        }
      })();

      // Phase 1: 500 visitors arrive through both replicas at once.
      const conversations: string[] = [];
      await pool(
        Array.from({ length: CONVERSATIONS }, (_, i) => i),
        24,
        async (i) => {
          const r = replicas[i % 2]!;
          const session = await postJson(`${r.base}/api/v1/widget/session`, { channelId });
          expect(session.status).toBe(200);
          const auth = { authorization: `Bearer ${session.json.token as string}` };
          const conv = await postJson(`${r.base}/api/v1/widget/conversations`, {}, auth);
          const id = conv.json.id as string;
          const sent = await postJson(
            `${r.base}/api/v1/widget/conversations/${id}/messages`,
            { clientId: `c-${randomUUID()}`, text: `第 ${i} 位客户：你好` },
            auth,
          );
          expect(sent.status).toBe(201);
          conversations.push(id);
        },
      );
      // Every slot fills (50 × 3), the rest waits; loads only grew so far: exact check.
      const full = AGENTS * CAPACITY;
      const deadline1 = Date.now() + 60_000;
      while ([...(await routingAssignments()).values()].length < full) {
        if (Date.now() > deadline1) throw new Error('the slots did not fill');
        await new Promise((res) => setTimeout(res, 100));
      }
      const loads = await client.query<{ assignee_id: string; n: string }>(
        `select assignee_id, count(*) as n from conversations
          where status = 'open' and assignee_id is not null group by assignee_id`,
      );
      expect(loads.rows).toHaveLength(AGENTS);
      for (const row of loads.rows) expect(Number(row.n)).toBe(CAPACITY);
      // Phase 2: agents resolve what they hold, in waves, through either replica; freed slots
      // are taken by both replicas' engines concurrently, until every conversation had an agent.
      const deadline2 = Date.now() + 180_000;
      let wave = 0;
      while ((await routingAssignments()).size < CONVERSATIONS) {
        if (Date.now() > deadline2) throw new Error('not every conversation was assigned');
        const held = await client.query<{ id: string; assignee_id: string }>(
          `select id, assignee_id from conversations where status = 'open' and assignee_id is not null`,
        );
        await pool(held.rows, 16, async (c, i) => {
          const agent = agents.find((x) => x.id === c.assignee_id)!;
          const k = (i + wave) % 2;
          const res = await json('POST', `${replicas[k]!.base}/api/v1/conversations/${c.id}/resolve`, {
            cookie: agent.cookies[k]!,
            origin: replicas[k]!.base,
          });
          expect([200, 409]).toContain(res.status);
        });
        wave++;
        await new Promise((res) => setTimeout(res, 300));
      }
      sampling = false;
      await sampler;

      const assigned = await routingAssignments();
      expect(assigned.size).toBe(CONVERSATIONS);
      const twice = [...assigned].filter(([, n]) => n > 1);
      expect(twice).toEqual([]);
      const audits = await client.query<{ n: string }>(
        `select count(*) as n from audit_log where action = 'conversation.route'`,
      );
      expect(Number(audits.rows[0]!.n)).toBe(CONVERSATIONS);
      expect(breaches).toEqual([]);
      expect(await overCapacity()).toEqual([]);
      const leftover = await client.query(`select 1 from routing_queue where state = 'waiting'`);
      expect(leftover.rows).toEqual([]);
      expect(new Set(conversations).size).toBe(CONVERSATIONS);
    },
    PROCESS_TEST_MS,
  );
});
