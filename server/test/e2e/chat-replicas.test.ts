// Two real server processes on one database: a visitor on one, an agent on the other, both
// directions live through LISTEN/NOTIFY; a replica whose LISTEN connection is killed catches up.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { TestSocket, isType } from '../support/realtime.ts';
import { listenBackendPid, login, postJson, startServer } from '../support/server-process.ts';

const database = await createTestDatabase();
// The periodic safety net is pushed out of the way: what is proven here is the NOTIFY path
// and the catch-up after a LISTEN reconnect.
const env = { PARLEY_REALTIME_CATCHUP_SECONDS: '3600' };
const a = await startServer(database.url, env);
const b = await startServer(database.url, env);
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
  await Promise.all([a.stop(), b.stop()]);
});

async function terminateListen(serverPid: number) {
  const pid = await listenBackendPid(database.url, serverPid);
  expect(pid).not.toBeNull();
  const c = new pg.Client({ connectionString: database.url });
  await c.connect();
  await c.query('select pg_terminate_backend($1)', [pid]);
  await c.end();
  return pid!;
}

describe('two replicas on one database', () => {
  it('delivers both directions live, and catches up after losing the LISTEN connection', async () => {
    const session = await postJson(`${a.base}/api/v1/widget/session`, {});
    const token = session.json.token as string;
    const conv = await postJson(
      `${a.base}/api/v1/widget/conversations`,
      {},
      { authorization: `Bearer ${token}` },
    );
    const conversationId = conv.json.id as string;

    const visitor = await TestSocket.open(`${a.wsBase}/api/v1/widget/ws`);
    sockets.push(visitor);
    visitor.send({ type: 'hello', token });
    await visitor.waitFor(isType('ready'));

    const cookie = await login(b.base, 'admin', 'e2e-admin-password-0123');
    const agent = await TestSocket.open(`${b.wsBase}/api/v1/ws`, { cookie });
    sockets.push(agent);
    agent.send({ type: 'hello' });
    await agent.waitFor(isType('ready'));

    visitor.send({ type: 'send', conversationId, clientId: randomUUID(), text: 'hello from replica A' });
    await agent.waitFor(isType('message', (m) => m.message.text === 'hello from replica A'));
    agent.send({ type: 'send', conversationId, clientId: randomUUID(), text: 'answer from replica B' });
    await visitor.waitFor(isType('message', (m) => m.message.text === 'answer from replica B'));

    // Kill B's LISTEN backend, then write on A while B is deaf.
    const oldPid = await terminateListen(b.pid);
    const texts = ['while B was deaf 1', 'while B was deaf 2', 'while B was deaf 3'];
    for (const [i, text] of texts.entries()) {
      visitor.send({ type: 'send', ref: `d${i}`, conversationId, clientId: randomUUID(), text });
      await visitor.waitFor(isType('ack', (x) => x.ref === `d${i}`));
    }
    for (const text of texts) {
      await agent.waitFor(
        isType('message', (m) => m.message.text === text),
        { timeoutMs: 10_000 },
      );
    }
    const newPid = await listenBackendPid(database.url, b.pid);
    expect(newPid).not.toBeNull();
    expect(newPid).not.toBe(oldPid);
    const seen = agent.messages(conversationId).map((m) => m.seq);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(new Set(seen).size).toBe(seen.length);

    // And the other way round: A loses its LISTEN connection while B writes.
    await terminateListen(a.pid);
    agent.send({
      type: 'send',
      ref: 'back',
      conversationId,
      clientId: randomUUID(),
      text: 'while A was deaf',
    });
    await agent.waitFor(isType('ack', (x) => x.ref === 'back'));
    await visitor.waitFor(
      isType('message', (m) => m.message.text === 'while A was deaf'),
      { timeoutMs: 10_000 },
    );
    const visitorSeqs = visitor.messages(conversationId).map((m) => m.seq);
    expect(new Set(visitorSeqs).size).toBe(visitorSeqs.length);
  });

  it('hands a private note from one replica to an agent on the other, never to the visitor', async () => {
    const session = await postJson(`${a.base}/api/v1/widget/session`, {});
    const token = session.json.token as string;
    const conv = await postJson(
      `${a.base}/api/v1/widget/conversations`,
      {},
      { authorization: `Bearer ${token}` },
    );
    const conversationId = conv.json.id as string;
    const visitor = await TestSocket.open(`${a.wsBase}/api/v1/widget/ws`);
    sockets.push(visitor);
    visitor.send({ type: 'hello', token });
    await visitor.waitFor(isType('ready'));
    const cookieA = await login(a.base, 'admin', 'e2e-admin-password-0123');
    const cookieB = await login(b.base, 'admin', 'e2e-admin-password-0123');
    const agentA = await TestSocket.open(`${a.wsBase}/api/v1/ws`, { cookie: cookieA });
    sockets.push(agentA);
    agentA.send({ type: 'hello' });
    await agentA.waitFor(isType('ready'));
    const note = await postJson(
      `${b.base}/api/v1/conversations/${conversationId}/messages`,
      { clientId: randomUUID(), text: 'note: refund approved internally', private: true },
      { cookie: cookieB },
    );
    expect(note.status).toBe(201);
    await postJson(
      `${b.base}/api/v1/conversations/${conversationId}/messages`,
      { clientId: randomUUID(), text: 'Your refund is on its way' },
      { cookie: cookieB },
    );
    await agentA.waitFor(isType('message', (m) => m.message.text === 'note: refund approved internally'));
    await visitor.waitFor(isType('message', (m) => m.message.text === 'Your refund is on its way'));
    expect(JSON.stringify(visitor.frames)).not.toContain('approved internally');
  });
});
