// Group commit of plain sends (modules/conversations/group-commit.ts): sends made in the same
// event-loop turn share one statement; each still gets its own result, seqs stay gap-free and
// in call order per conversation, a resend inside the batch is a duplicate, and one bad send
// does not fail the others.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import type { VisitorIdentity } from '../../src/modules/conversations/visitor-tokens.ts';
import type { Actor } from '../../src/modules/identity/permissions.ts';
import { createTestApp, signIn } from '../support/app.ts';
import { eventually } from '../support/process.ts';
import { TestSocket, isType } from '../support/realtime.ts';

const t = await createTestApp();
const svc = t.container.conversations;
await t.app.listen({ host: '127.0.0.1', port: 0 });
const address = t.app.server.address();
const wsBase = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
});

async function visitor(): Promise<{ v: VisitorIdentity; conversationId: string }> {
  const session = await svc.startVisitorSession({});
  const v = await svc.authenticateVisitor(session.token);
  const conv = await svc.openConversation(v);
  return { v, conversationId: conv.id };
}

async function storedSeqs(conversationId: string) {
  return t.container.db
    .selectFrom('messages')
    .select(['seq', 'client_id', 'body'])
    .where('conversation_id', '=', conversationId)
    .orderBy('seq')
    .execute();
}

describe('group commit of plain sends', () => {
  it('stores sends of one turn in one statement, each acked with its own gap-free seq, in order', async () => {
    const vs = await Promise.all(Array.from({ length: 6 }, () => visitor()));
    const before = svc.appendStats();
    const calls: { i: number; conv: string; clientId: string; p: ReturnType<typeof svc.visitorSend> }[] = [];
    // 5 messages per conversation, interleaved, all started in the same turn.
    for (let k = 0; k < 5; k++) {
      for (const [i, { v, conversationId }] of vs.entries()) {
        const clientId = `gc-${i}-${k}-${randomUUID()}`;
        calls.push({
          i,
          conv: conversationId,
          clientId,
          p: svc.visitorSend(v, conversationId, { clientId, text: `m${k}` }),
        });
      }
    }
    // A resend of the first message inside the same batch.
    const resend = svc.visitorSend(vs[0]!.v, vs[0]!.conversationId, {
      clientId: calls[0]!.clientId,
      text: 'm0',
    });
    const results = await Promise.all(calls.map((c) => c.p));
    const again = await resend;
    const after = svc.appendStats();
    expect(after.items - before.items).toBe(31);
    // Fewer statements than sends: they were grouped.
    expect(after.batches - before.batches).toBeLessThan(31);

    for (const { conversationId } of vs) {
      const mine = calls.map((c, n) => ({ c, r: results[n]! })).filter((x) => x.c.conv === conversationId);
      expect(mine.map((x) => x.r.message.seq)).toEqual([1, 2, 3, 4, 5]);
      const rows = await storedSeqs(conversationId);
      expect(rows.map((r) => [r.seq, r.client_id])).toEqual(mine.map((x) => [x.r.message.seq, x.c.clientId]));
      for (const x of mine) expect(x.r.duplicate).toBe(false);
    }
    expect(again.duplicate).toBe(true);
    expect(again.message.id).toBe(results[0]!.message.id);
    expect(again.message.seq).toBe(1);
  });

  it('fails only the bad send of a batch: others are stored, a foreign conversation is a 404', async () => {
    const a = await visitor();
    const b = await visitor();
    const before = svc.appendStats();
    const good1 = svc.visitorSend(a.v, a.conversationId, { clientId: `ok1-${randomUUID()}`, text: 'fine' });
    // PostgreSQL text cannot hold NUL: this input makes the batch statement fail as a whole.
    const bad = svc.visitorSend(a.v, a.conversationId, {
      clientId: `bad-${randomUUID()}`,
      text: 'nul \u0000 here',
    });
    const foreign = svc.visitorSend(a.v, b.conversationId, {
      clientId: `x-${randomUUID()}`,
      text: 'not mine',
    });
    const good2 = svc.visitorSend(b.v, b.conversationId, {
      clientId: `ok2-${randomUUID()}`,
      text: 'fine too',
    });
    const [r1, rBad, rForeign, r2] = await Promise.allSettled([good1, bad, foreign, good2]);
    expect(r1.status).toBe('fulfilled');
    expect(r2.status).toBe('fulfilled');
    expect(rBad.status).toBe('rejected');
    expect(rForeign).toMatchObject({ status: 'rejected', reason: { status: 404 } });
    expect(svc.appendStats().fallbacks - before.fallbacks).toBe(1);
    expect((await storedSeqs(a.conversationId)).map((r) => [r.seq, r.body])).toEqual([[1, 'fine']]);
    expect((await storedSeqs(b.conversationId)).map((r) => [r.seq, r.body])).toEqual([[1, 'fine too']]);
  });
});

describe('sends on one socket', () => {
  it('overlap across conversations, stay in order within one, and other frames wait for them', async () => {
    const a = await visitor();
    const b = await visitor();
    const admin = await signIn(t, 'admin');
    const agent = await TestSocket.open(`${wsBase}/api/v1/ws`, { cookie: admin.cookie });
    sockets.push(agent);
    agent.send({ type: 'hello' });
    await agent.waitFor(isType('ready'));

    // Conversation A is locked by another transaction until `release`.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: (holderPid: number) => void;
    const isLocked = new Promise<number>((r) => (locked = r));
    const holder = t.container.db.transaction().execute(async (trx) => {
      await trx
        .selectFrom('conversations')
        .select('id')
        .where('id', '=', a.conversationId)
        .forUpdate()
        .execute();
      locked((await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]!.pid);
      await held;
    });
    const holderPid = await isLocked;
    const refs = () =>
      agent.frames
        .filter((f) => f.type === 'ack' || f.type === 'pong')
        .map((f) => (f as { ref?: string }).ref);
    // Released however the test ends, so a failure is reported instead of hanging the file.
    try {
      const send = (ref: string, conversationId: string) =>
        agent.send({ type: 'send', ref, conversationId, clientId: `${ref}-${randomUUID()}`, text: ref });
      send('a1', a.conversationId);
      // a1's statement is waiting for the lock (seen in PostgreSQL, not guessed from a sleep).
      await eventually(
        async () =>
          (
            await sql<{ n: number | string }>`select count(*) as n from pg_stat_activity
              where ${holderPid} = any(pg_blocking_pids(pid))`.execute(t.container.db)
          ).rows[0]!.n,
        (n) => Number(n) === 1,
      );
      send('b1', b.conversationId);
      send('a2', a.conversationId);
      agent.send({ type: 'ping', ref: 'p' });
      // b1 is stored and acknowledged while a1 still waits: sends to other conversations overlap.
      await agent.waitFor(isType('ack', (f) => f.ref === 'b1'));
      // A moment for a wrongly early ack of a2 or pong to show. (On a slow machine this only
      // gives a bug less time to show; it cannot fail a correct build.)
      await new Promise((r) => setTimeout(r, 150));
      expect(refs()).toEqual(['b1']);
    } finally {
      release();
      await holder;
    }
    await agent.waitFor(isType('pong'));
    // Same conversation: a1 then a2; the ping waited for every earlier send.
    expect(refs()).toEqual(['b1', 'a1', 'a2', 'p']);
    const acks = agent.frames.filter(isType('ack'));
    const seqOf = (ref: string) => acks.find((f) => f.ref === ref)!.seq;
    expect([seqOf('a1'), seqOf('a2'), seqOf('b1')]).toEqual([1, 2, 1]);
  });
});

describe('resumes of one turn', () => {
  it('share one read; each gets its own page, foreign conversations a 404, visitors no private notes', async () => {
    const a = await visitor();
    const b = await visitor();
    const admin = await signIn(t, 'admin');
    const actor: Actor = {
      userId: admin.userId,
      username: admin.username,
      displayName: 'Admin',
      role: 'admin',
      teamIds: [],
      sessionId: 'test',
      ip: null,
      userAgent: null,
    };
    for (let i = 1; i <= 3; i++) {
      await svc.visitorSend(a.v, a.conversationId, { clientId: `ra-${i}-${randomUUID()}`, text: `a${i}` });
      await svc.visitorSend(b.v, b.conversationId, { clientId: `rb-${i}-${randomUUID()}`, text: `b${i}` });
    }
    await svc.agentSend(actor, a.conversationId, {
      clientId: `note-${randomUUID()}`,
      text: 'note',
      private: true,
    });
    const before = svc.resumeStats();
    const [ra, rb, foreign, agentA] = await Promise.allSettled([
      svc.resumeFirstPage({ visitor: a.v }, a.conversationId, 1, 500),
      svc.resumeFirstPage({ visitor: b.v }, b.conversationId, 0, 500),
      svc.resumeFirstPage({ visitor: a.v }, b.conversationId, 0, 500),
      svc.resumeFirstPage({ actor }, a.conversationId, 0, 500),
    ]);
    const after = svc.resumeStats();
    expect(after.items - before.items).toBe(4);
    expect(after.batches - before.batches).toBe(1);
    expect(ra.status === 'fulfilled' && ra.value.messages.map((m) => m.text)).toEqual(['a2', 'a3']);
    expect(rb.status === 'fulfilled' && rb.value.messages.map((m) => m.text)).toEqual(['b1', 'b2', 'b3']);
    expect(foreign).toMatchObject({ status: 'rejected', reason: { status: 404 } });
    expect(agentA.status === 'fulfilled' && agentA.value.messages.map((m) => m.text)).toEqual([
      'a1',
      'a2',
      'a3',
      'note',
    ]);
  });
});

describe('agent sends in one batch', () => {
  it('are checked one by one under their row locks: the visible one is stored, the other a 404', async () => {
    const teamA = (
      await t.container.db
        .insertInto('teams')
        .values({ name: `gc-a-${randomUUID()}` })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    const teamB = (
      await t.container.db
        .insertInto('teams')
        .values({ name: `gc-b-${randomUUID()}` })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    const agent = await signIn(t, 'agent', { teamIds: [teamA] });
    const mine = await visitor();
    const theirs = await visitor();
    await t.container.db
      .updateTable('conversations')
      .set({ team_id: teamA })
      .where('id', '=', mine.conversationId)
      .execute();
    await t.container.db
      .updateTable('conversations')
      .set({ team_id: teamB })
      .where('id', '=', theirs.conversationId)
      .execute();
    const actor: Actor = {
      userId: agent.userId,
      username: agent.username,
      displayName: 'Agent',
      role: 'agent',
      teamIds: [teamA],
      sessionId: 'test',
      ip: null,
      userAgent: null,
    };
    const before = svc.appendStats();
    const [ok, refused] = await Promise.allSettled([
      svc.agentSend(actor, mine.conversationId, { clientId: `ok-${randomUUID()}`, text: 'mine' }),
      svc.agentSend(actor, theirs.conversationId, { clientId: `no-${randomUUID()}`, text: 'not mine' }),
    ]);
    const after = svc.appendStats();
    expect(after.items - before.items).toBe(2);
    expect(after.batches - before.batches).toBe(1);
    expect(ok).toMatchObject({ status: 'fulfilled', value: { message: { seq: 1, text: 'mine' } } });
    expect(refused).toMatchObject({ status: 'rejected', reason: { status: 404 } });
    expect(await storedSeqs(theirs.conversationId)).toEqual([]);
  });
});
