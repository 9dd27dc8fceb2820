// Two real server processes on one database, racing each other (issue 12, defects 1–3):
//  1. the first message of each side in the same tick — on fresh conversations, after the
//     replica restarted, and after it forgot the conversation while idle — reaches both sides;
//  2. an ack never overtakes an earlier message on the sender's socket (and a client that
//     resumes from its highest contiguous seq on the other replica misses nothing);
//  3. a resume beyond the conversation's last seq is answered with where it really ends, and
//     live messages after it arrive.
// The periodic catch-up is pushed out of the way: the live path alone must get it right.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../src/realtime/events.ts';
import { createTestDatabase } from '../support/db.ts';
import { TestSocket, isType } from '../support/realtime.ts';
import { login, postJson, startServer, type ServerProcess } from '../support/server-process.ts';

const database = await createTestDatabase();
const env = {
  PARLEY_REALTIME_CATCHUP_SECONDS: '3600',
  PARLEY_REALTIME_FORGET_SECONDS: '1',
  PARLEY_WS_FRAMES_PER_SECOND: '1000',
  PARLEY_WS_FRAMES_BURST: '2000',
};
const a = await startServer(database.url, env);
let b = await startServer(database.url, env);
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
  await Promise.all([a.stop(), b.stop()]);
});
const ADMIN_PASSWORD = 'e2e-admin-password-0123';

async function open(url: string, headers: Record<string, string>, hello: Record<string, unknown>) {
  const s = await TestSocket.open(url, headers);
  sockets.push(s);
  s.send({ type: 'hello', ...hello });
  await s.waitFor(isType('ready'));
  return s;
}

async function newConversation(base: string) {
  const token = (await postJson(`${base}/api/v1/widget/session`, {})).json.token as string;
  const conv = await postJson(
    `${base}/api/v1/widget/conversations`,
    {},
    { authorization: `Bearer ${token}` },
  );
  return { token, conversationId: conv.json.id as string };
}

const seqsOf = (s: TestSocket, conversationId: string) => s.messages(conversationId).map((m) => m.seq);

/** Visitor on A, admin agent on B; both send in the same tick; both must get both seqs. */
async function race(
  visitor: TestSocket,
  agent: TestSocket,
  conversationId: string,
  round: string,
): Promise<string | null> {
  const before = Math.max(0, ...seqsOf(visitor, conversationId), ...seqsOf(agent, conversationId));
  const v = `v-${randomUUID()}`;
  const g = `g-${randomUUID()}`;
  visitor.send({ type: 'send', ref: v, conversationId, clientId: v, text: `visitor ${round}` });
  agent.send({ type: 'send', ref: g, conversationId, clientId: g, text: `agent ${round}` });
  const [av, ag] = await Promise.all([
    visitor.waitFor(isType('ack', (x) => x.ref === v)),
    agent.waitFor(isType('ack', (x) => x.ref === g)),
  ]);
  const top = Math.max(av.seq, ag.seq);
  const want = Array.from({ length: top - before }, (_, i) => before + 1 + i);
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const vs = seqsOf(visitor, conversationId).filter((s) => s > before);
    const gs = seqsOf(agent, conversationId).filter((s) => s > before);
    if (JSON.stringify(vs) === JSON.stringify(want) && JSON.stringify(gs) === JSON.stringify(want))
      return null;
    await new Promise((r) => setTimeout(r, 20));
  }
  return `${round}: visitor got ${JSON.stringify(seqsOf(visitor, conversationId))}, agent got ${JSON.stringify(
    seqsOf(agent, conversationId),
  )}, expected ${JSON.stringify(want)} after ${before}`;
}

describe('delivery between two replicas racing', () => {
  it('the first message of each side in the same tick reaches both: fresh, after a restart, after forgetting', async () => {
    const failures: string[] = [];
    const pairs: { token: string; conversationId: string; visitor: TestSocket; agent: TestSocket }[] = [];
    const agentOn = async (server: ServerProcess, resume: { conversationId: string; lastSeq: number }[]) =>
      open(
        `${server.wsBase}/api/v1/ws`,
        { cookie: await login(server.base, 'admin', ADMIN_PASSWORD) },
        { resume },
      );
    // Fresh conversations: half the agents follow the conversation (resumed at 0), half only
    // hear it live through their rooms.
    for (let i = 0; i < 12; i++) {
      const c = await newConversation(a.base);
      const resume = [{ conversationId: c.conversationId, lastSeq: 0 }];
      const visitor = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: c.token, resume });
      await visitor.waitFor(isType('resumed'));
      const agent = await agentOn(b, i % 2 === 0 ? resume : []);
      if (i % 2 === 0) await agent.waitFor(isType('resumed'));
      pairs.push({ ...c, visitor, agent });
      const failed = await race(visitor, agent, c.conversationId, `fresh ${i}`);
      if (failed) failures.push(failed);
    }

    // B restarts: conversations with history, seen again for the first time there.
    for (const p of pairs) await p.agent.close();
    await b.stop();
    b = await startServer(database.url, env);
    for (const [i, p] of pairs.entries()) {
      const last = Math.max(...seqsOf(p.visitor, p.conversationId));
      p.agent = await agentOn(b, i % 2 === 0 ? [{ conversationId: p.conversationId, lastSeq: last }] : []);
      if (i % 2 === 0) await p.agent.waitFor(isType('resumed'));
      const failed = await race(p.visitor, p.agent, p.conversationId, `after restart ${i}`);
      if (failed) failures.push(failed);
    }

    // Idle longer than PARLEY_REALTIME_FORGET_SECONDS (plus the sweep): both replicas forget.
    await new Promise((r) => setTimeout(r, 2500));
    for (const [i, p] of pairs.entries()) {
      const failed = await race(p.visitor, p.agent, p.conversationId, `after forgetting ${i}`);
      if (failed) failures.push(failed);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('an ack never overtakes an earlier message; resuming from the highest contiguous seq misses nothing', async () => {
    const c = await newConversation(a.base);
    const resume = [{ conversationId: c.conversationId, lastSeq: 0 }];
    const visitor = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: c.token, resume });
    const cookie = await login(b.base, 'admin', ADMIN_PASSWORD);
    const agent = await open(`${b.wsBase}/api/v1/ws`, { cookie }, { resume });
    await Promise.all([visitor.waitFor(isType('resumed')), agent.waitFor(isType('resumed'))]);

    // Both sides send as fast as their acks come back, 60 each, interleaving across replicas.
    const overtakes: string[] = [];
    const pump = async (s: TestSocket, who: string) => {
      for (let i = 0; i < 60; i++) {
        const id = `${who}-${i}-${randomUUID()}`;
        const at = s.frames.length;
        s.send({
          type: 'send',
          ref: id,
          conversationId: c.conversationId,
          clientId: id,
          text: `${who} ${i}`,
        });
        const ack = await s.waitFor(
          isType('ack', (x) => x.ref === id),
          { from: at },
        );
        const index = s.frames.indexOf(ack);
        const before = new Set(
          s.frames
            .slice(0, index)
            .filter((f): f is Extract<ServerEvent, { type: 'message' }> => f.type === 'message')
            .map((f) => f.message.seq),
        );
        const missing = Array.from({ length: ack.seq - 1 }, (_, k) => k + 1).filter((q) => !before.has(q));
        if (missing.length) overtakes.push(`${who}: ack ${ack.seq} before message(s) ${missing.join(',')}`);
      }
    };
    await Promise.all([pump(visitor, 'visitor'), pump(agent, 'agent')]);
    expect(overtakes).toEqual([]);

    // The client rule: lastSeq is the highest seq up to which every message was received.
    const all = seqsOf(agent, c.conversationId);
    let contiguous = 0;
    while (all.includes(contiguous + 1)) contiguous++;
    const again = await open(
      `${a.wsBase}/api/v1/ws`,
      { cookie },
      {
        resume: [{ conversationId: c.conversationId, lastSeq: contiguous }],
      },
    );
    const resumed = await again.waitFor(isType('resumed'));
    expect(resumed.lastSeq).toBe(120);
    expect(
      [...new Set([...all.filter((q) => q <= contiguous), ...seqsOf(again, c.conversationId)])].sort(
        (x, y) => x - y,
      ),
    ).toEqual(Array.from({ length: 120 }, (_, k) => k + 1));
  }, 60_000);

  it('a resume beyond the conversation’s last seq resets to it, and live messages after it arrive', async () => {
    const c = await newConversation(a.base);
    for (const text of ['one', 'two']) {
      const r = await postJson(
        `${a.base}/api/v1/widget/conversations/${c.conversationId}/messages`,
        { clientId: randomUUID(), text },
        { authorization: `Bearer ${c.token}` },
      );
      expect(r.status).toBe(201);
    }
    // A client whose state is ahead of the database (e.g. restored from an older backup).
    const visitor = await open(
      `${a.wsBase}/api/v1/widget/ws`,
      {},
      {
        token: c.token,
        resume: [{ conversationId: c.conversationId, lastSeq: 10 }],
      },
    );
    const resumed = await visitor.waitFor(isType('resumed'));
    expect(resumed).toMatchObject({ conversationId: c.conversationId, lastSeq: 2, replayed: 0, reset: true });
    const cookie = await login(b.base, 'admin', ADMIN_PASSWORD);
    for (const text of ['three', 'four', 'five']) {
      const r = await postJson(
        `${b.base}/api/v1/conversations/${c.conversationId}/messages`,
        { clientId: randomUUID(), text },
        { cookie },
      );
      expect(r.status).toBe(201);
    }
    await visitor.waitFor(isType('message', (m) => m.message.text === 'five'));
    expect(seqsOf(visitor, c.conversationId)).toEqual([3, 4, 5]);
    // The same through a `resume` frame on a socket already open.
    visitor.send({
      type: 'resume',
      ref: 'r2',
      conversations: [{ conversationId: c.conversationId, lastSeq: 99 }],
    });
    const again = await visitor.waitFor(isType('resumed', (x) => x.ref === 'r2'));
    expect(again).toMatchObject({ lastSeq: 5, replayed: 0, reset: true });
  }, 60_000);
});
