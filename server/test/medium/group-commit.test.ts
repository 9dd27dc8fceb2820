// Group commit of plain sends (modules/conversations/group-commit.ts): sends made in the same
// event-loop turn share one statement; each still gets its own result, seqs stay gap-free and
// in call order per conversation, a resend inside the batch is a duplicate, and one bad send
// does not fail the others (text the database cannot store is refused before the batch), and
// one client id used by two senders is one message and one conflict.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createConversationsRepository,
  type PlainAppendInput,
  type PlainAppendRow,
} from '../../src/modules/conversations/conversations.repository.ts';
import { createGroupCommit } from '../../src/modules/conversations/group-commit.ts';
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

/** An admin as the services see one (the caller of agentSend, resumeFirstPage). */
async function adminActor(): Promise<Actor> {
  const admin = await signIn(t, 'admin');
  return {
    userId: admin.userId,
    username: admin.username,
    displayName: 'Admin',
    role: 'admin',
    teamIds: [],
    sessionId: 'test',
    ip: null,
    userAgent: null,
  };
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

  it('refuses text PostgreSQL cannot store before the batch: a 400 naming text; the turn’s other sends are stored', async () => {
    const a = await visitor();
    const b = await visitor();
    const before = svc.appendStats();
    const good1 = svc.visitorSend(a.v, a.conversationId, { clientId: `ok1-${randomUUID()}`, text: 'fine' });
    const nul = svc.visitorSend(a.v, a.conversationId, {
      clientId: `bad-${randomUUID()}`,
      text: 'nul \u0000 here',
    });
    const lone = svc.visitorSend(a.v, a.conversationId, {
      clientId: `bad-${randomUUID()}`,
      text: 'lone \ud83d here',
    });
    const foreign = svc.visitorSend(a.v, b.conversationId, {
      clientId: `x-${randomUUID()}`,
      text: 'not mine',
    });
    const good2 = svc.visitorSend(b.v, b.conversationId, {
      clientId: `ok2-${randomUUID()}`,
      text: 'fine too',
    });
    const [r1, rNul, rLone, rForeign, r2] = await Promise.allSettled([good1, nul, lone, foreign, good2]);
    expect(r1.status).toBe('fulfilled');
    expect(r2.status).toBe('fulfilled');
    // Not "rejected somehow": the clear answer a client must not resend (WS: bad_frame).
    expect(rNul).toMatchObject({
      status: 'rejected',
      reason: { status: 400, code: 'bad_request', details: { field: 'text' } },
    });
    expect((rNul as PromiseRejectedResult).reason.message).toMatch(/^text: contains U\+0000/);
    expect(rLone).toMatchObject({ status: 'rejected', reason: { status: 400, details: { field: 'text' } } });
    expect((rLone as PromiseRejectedResult).reason.message).toMatch(/unpaired surrogate U\+D83D/);
    expect(rForeign).toMatchObject({ status: 'rejected', reason: { status: 404 } });
    // Refused before the statement: the batch did not fail.
    expect(svc.appendStats().fallbacks - before.fallbacks).toBe(0);
    expect((await storedSeqs(a.conversationId)).map((r) => [r.seq, r.body])).toEqual([[1, 'fine']]);
    expect((await storedSeqs(b.conversationId)).map((r) => [r.seq, r.body])).toEqual([[1, 'fine too']]);
  });

  it('retries a batch that fails as a whole one send at a time: only the bad send fails', async () => {
    // The database itself refusing an input (a NUL, which the service no longer lets through).
    const repo = createConversationsRepository();
    const db = t.container.db;
    const commit = createGroupCommit<PlainAppendInput, PlainAppendRow | null>({
      many: (inputs) => repo.appendPlainMessages(db, inputs),
      one: (input) => repo.appendPlainMessage(db, input),
      maxBatch: 100,
      maxInFlight: 4,
    });
    const a = await visitor();
    const input = (body: string): PlainAppendInput => ({
      visibleTo: null,
      conversationId: a.conversationId,
      contactId: a.v.contactId,
      clientId: `gc-${randomUUID()}`,
      senderType: 'visitor',
      senderId: a.v.contactId,
      body,
      private: false,
      reopen: true,
      agentReply: false,
    });
    const results = await Promise.allSettled([
      commit.append(input('one')),
      commit.append(input('nul \u0000')),
      commit.append(input('two')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(commit.stats()).toMatchObject({ batches: 1, fallbacks: 1 });
    expect((await storedSeqs(a.conversationId)).map((r) => [r.seq, r.body])).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
  });
});

describe('one client id, two senders', () => {
  it('in one batch: the first sender’s message is stored, the other sender gets a conflict naming clientId', async () => {
    const a = await visitor();
    const actor = await adminActor();
    const shared = `shared-${randomUUID()}`;
    const before = svc.appendStats();
    const [byVisitor, byAgent, resend] = await Promise.allSettled([
      svc.visitorSend(a.v, a.conversationId, { clientId: shared, text: 'visitor text' }),
      svc.agentSend(actor, a.conversationId, { clientId: shared, text: 'agent text' }),
      svc.visitorSend(a.v, a.conversationId, { clientId: shared, text: 'visitor text' }),
    ]);
    expect(svc.appendStats().batches - before.batches).toBe(1);
    expect(byVisitor).toMatchObject({
      status: 'fulfilled',
      value: { duplicate: false, message: { seq: 1 } },
    });
    expect(byAgent).toMatchObject({
      status: 'rejected',
      reason: { status: 409, code: 'conflict', details: { field: 'clientId' } },
    });
    // The visitor's own resend in the same batch is the same message.
    expect(resend).toMatchObject({ status: 'fulfilled', value: { duplicate: true, message: { seq: 1 } } });
    expect((await storedSeqs(a.conversationId)).map((r) => [r.seq, r.client_id, r.body])).toEqual([
      [1, shared, 'visitor text'],
    ]);

    // A private note's client id reused by the visitor: a conflict, not a crash on the note.
    const noteId = `note-${randomUUID()}`;
    await svc.agentSend(actor, a.conversationId, { clientId: noteId, text: 'note', private: true });
    await expect(
      svc.visitorSend(a.v, a.conversationId, { clientId: noteId, text: 'hi' }),
    ).rejects.toMatchObject({ status: 409, details: { field: 'clientId' } });
    expect(
      await svc.agentSend(actor, a.conversationId, { clientId: noteId, text: 'note', private: true }),
    ).toMatchObject({ duplicate: true, message: { seq: 2, private: true } });
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
    const actor = await adminActor();
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
