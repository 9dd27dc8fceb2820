// The chat contract a third-party client relies on (docs/PROTOCOL.md), checked against two real
// server processes on one database, from the wire only:
// - a client id reused by ANOTHER sender in the same conversation is a clear `conflict` (WS
//   error frame / HTTP 409 naming clientId), across replicas and across HTTP and WebSocket,
//   never the other sender's ack, never a 500; the same sender's resend stays idempotent;
// - text PostgreSQL cannot store (NUL, a lone surrogate) is refused naming the field;
// - every error frame echoes the frame's ref and clientId;
// - lengths are code points, one rule for WebSocket and HTTP; the frame limit holds the longest
//   valid message in \u-escaped JSON and a full resume; `ready.limits` states the limits;
// - a reconnect storm of 1,000 clients behind one address, after a restart, resumes in seconds.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../src/realtime/events.ts';
import { createTestDatabase } from '../support/db.ts';
import { TestSocket, isType, openReady } from '../support/realtime.ts';
import { login, startServer, visitorOn } from '../support/server-process.ts';

const ADMIN_PASSWORD = 'e2e-admin-password-0123';
const database = await createTestDatabase();
const env = {
  // Many visitor sessions from one address in the storm below.
  PUBLIC_RATE_LIMIT_PER_MINUTE: '100000',
  PARLEY_WS_MAX_CONNECTIONS_PER_IP: '5000',
};
const a = await startServer(database.url, env);
let b = await startServer(database.url, env);
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) s.ws.terminate();
  await Promise.all([a.stop(), b.stop()]);
});

type Error = Extract<ServerEvent, { type: 'error' }>;

async function json(method: string, url: string, cookie: string | null, body?: unknown, token?: string) {
  const res = await fetch(url, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(cookie ? { cookie } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const open = (url: string, headers: Record<string, string>, hello: Record<string, unknown>) =>
  openReady(url, headers, hello, sockets);

const adminA = await login(a.base, 'admin', ADMIN_PASSWORD);
const adminB = await login(b.base, 'admin', ADMIN_PASSWORD);

async function messagesOf(conversationId: string, cookie = adminA) {
  const r = await json('GET', `${a.base}/api/v1/conversations/${conversationId}/messages?limit=200`, cookie);
  return r.json.messages as { seq: number; clientId: string | null; text: string; senderType: string }[];
}

async function secondAgent() {
  const username = `u${randomUUID().slice(0, 8)}`;
  const created = await json('POST', `${a.base}/api/v1/users`, adminA, {
    username,
    displayName: username,
    role: 'agent',
  });
  expect(created.status, JSON.stringify(created.json)).toBe(201);
  return login(b.base, username, created.json.oneTimePassword as string);
}

describe('one client id, two senders', () => {
  it('an agent reusing a visitor’s client id gets conflict (WS and HTTP, other replica), not the visitor’s ack', async () => {
    const v = await visitorOn(a.base);
    const visitor = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    const clientId = `shared-${randomUUID()}`;
    visitor.send({
      type: 'send',
      ref: 'v1',
      conversationId: v.conversationId,
      clientId,
      text: 'from the visitor',
    });
    const vAck = await visitor.waitFor(isType('ack', (x) => x.ref === 'v1'));

    const agent = await open(`${b.wsBase}/api/v1/ws`, { cookie: adminB }, {});
    agent.send({
      type: 'send',
      ref: 'a1',
      conversationId: v.conversationId,
      clientId,
      text: 'from the agent',
    });
    const refused = await agent.waitFor(isType('error', (e) => e.ref === 'a1'));
    expect(refused).toMatchObject({ code: 'conflict', field: 'clientId', clientId });
    expect(agent.frames.some((f) => f.type === 'ack' && f.clientId === clientId)).toBe(false);

    const http = await json('POST', `${b.base}/api/v1/conversations/${v.conversationId}/messages`, adminB, {
      clientId,
      text: 'from the agent, over HTTP',
    });
    expect(http.status).toBe(409);
    expect(http.json.error).toMatchObject({ code: 'conflict', field: 'clientId' });

    // The visitor's own resend is still idempotent, on either replica and either path.
    visitor.send({
      type: 'send',
      ref: 'v2',
      conversationId: v.conversationId,
      clientId,
      text: 'from the visitor',
    });
    expect((await visitor.waitFor(isType('ack', (x) => x.ref === 'v2'))).messageId).toBe(vAck.messageId);
    const again = await json(
      'POST',
      `${b.base}/api/v1/widget/conversations/${v.conversationId}/messages`,
      null,
      { clientId, text: 'from the visitor' },
      v.token,
    );
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ messageId: vAck.messageId, duplicate: true });

    const stored = await messagesOf(v.conversationId);
    expect(stored.map((m) => [m.seq, m.clientId, m.text])).toEqual([[1, clientId, 'from the visitor']]);
  });

  it('a visitor reusing a private note’s client id gets conflict, never internal / 500, and sees no note', async () => {
    const v = await visitorOn(a.base);
    const agent = await open(`${a.wsBase}/api/v1/ws`, { cookie: adminA }, {});
    const clientId = `note-${randomUUID()}`;
    agent.send({
      type: 'send',
      ref: 'n',
      conversationId: v.conversationId,
      clientId,
      text: 'secret note',
      private: true,
    });
    await agent.waitFor(isType('ack', (x) => x.ref === 'n'));

    const visitor = await open(`${b.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    visitor.send({ type: 'send', ref: 'x', conversationId: v.conversationId, clientId, text: 'hello' });
    const refused = await visitor.waitFor(isType('error', (e) => e.ref === 'x'));
    expect(refused).toMatchObject({ code: 'conflict', field: 'clientId', clientId });
    expect(JSON.stringify(visitor.frames)).not.toContain('secret note');

    const http = await json(
      'POST',
      `${b.base}/api/v1/widget/conversations/${v.conversationId}/messages`,
      null,
      { clientId, text: 'hello' },
      v.token,
    );
    expect(http.status).toBe(409);
    expect(http.json.error).toMatchObject({ code: 'conflict', field: 'clientId' });
    expect(JSON.stringify(http.json)).not.toContain('secret note');

    // The same id on an upload is refused the same way (the file is not stored).
    const form = new FormData();
    form.append('file', new Blob(['plain words']), 'words.txt');
    const upload = await fetch(
      `${a.base}/api/v1/widget/conversations/${v.conversationId}/attachments?clientId=${clientId}`,
      { method: 'POST', headers: { authorization: `Bearer ${v.token}` }, body: form },
    );
    expect(upload.status).toBe(409);

    // And another agent reusing it: conflict too; the author's resend: the note's ack.
    const other = await secondAgent();
    const byOther = await json('POST', `${b.base}/api/v1/conversations/${v.conversationId}/messages`, other, {
      clientId,
      text: 'mine?',
      private: true,
    });
    expect(byOther.status).toBe(409);
    const byAuthor = await json(
      'POST',
      `${b.base}/api/v1/conversations/${v.conversationId}/messages`,
      adminB,
      {
        clientId,
        text: 'secret note',
        private: true,
      },
    );
    expect(byAuthor).toMatchObject({ status: 200, json: { duplicate: true, seq: 1 } });
    expect((await messagesOf(v.conversationId)).map((m) => m.text)).toEqual(['secret note']);
  });

  it('a visitor and an agent sending one client id at the same moment on two replicas: one stored, one conflict', async () => {
    const v = await visitorOn(a.base);
    const visitor = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    const agent = await open(`${b.wsBase}/api/v1/ws`, { cookie: adminB }, {});
    for (let round = 0; round < 10; round++) {
      const clientId = `race-${round}-${randomUUID()}`;
      const ref = `r${round}`;
      visitor.send({
        type: 'send',
        ref,
        conversationId: v.conversationId,
        clientId,
        text: `visitor ${round}`,
      });
      agent.send({ type: 'send', ref, conversationId: v.conversationId, clientId, text: `agent ${round}` });
      const answer = (s: TestSocket) =>
        s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.ref === ref, { timeoutMs: 10_000 });
      const [va, aa] = await Promise.all([answer(visitor), answer(agent)]);
      const kinds = [va, aa].map((f) => (f.type === 'ack' ? 'ack' : (f as Error).code)).sort();
      expect(kinds).toEqual(['ack', 'conflict']);
    }
    const stored = await messagesOf(v.conversationId);
    expect(stored.map((m) => m.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(stored).toHaveLength(10);
    // Each stored text belongs to the sender that got the ack.
    for (const m of stored)
      expect(m.text.startsWith(m.senderType === 'visitor' ? 'visitor' : 'agent')).toBe(true);
  });
});

describe('text PostgreSQL cannot store', () => {
  it('is refused naming the field (WS bad_frame, HTTP 400), never internal / 500', async () => {
    const v = await visitorOn(a.base);
    const visitor = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    const clientId = `nul-${randomUUID()}`;
    visitor.send({ type: 'send', ref: 'nul', conversationId: v.conversationId, clientId, text: 'a\u0000b' });
    const nul = await visitor.waitFor(isType('error', (e) => e.ref === 'nul'));
    expect(nul).toMatchObject({ code: 'bad_frame', field: 'text', clientId });
    expect(nul.message).toMatch(/U\+0000/);
    // A lone surrogate, as JSON can carry it (written by hand: JSON.stringify would escape it too).
    visitor.send(
      `{"type":"send","ref":"sur","conversationId":"${v.conversationId}","clientId":"${clientId}","text":"x\\ud800y"}`,
    );
    const sur = await visitor.waitFor(isType('error', (e) => e.ref === 'sur'));
    expect(sur).toMatchObject({ code: 'bad_frame', field: 'text' });
    expect(sur.message).toMatch(/surrogate/);

    const http = await json(
      'POST',
      `${a.base}/api/v1/widget/conversations/${v.conversationId}/messages`,
      null,
      { clientId, text: 'a\u0000b' },
      v.token,
    );
    expect(http.status).toBe(400);
    expect(http.json.error).toMatchObject({ field: 'text' });
    const lone = await json(
      'POST',
      `${a.base}/api/v1/widget/conversations/${v.conversationId}/messages`,
      null,
      `{"clientId":"${clientId}","text":"\\udc00"}`,
      v.token,
    );
    expect(lone.status).toBe(400);
    expect(lone.json.error).toMatchObject({ field: 'text' });

    // An agent's note, a transfer note, an edit, a visitor's name: the same.
    const note = await json('POST', `${b.base}/api/v1/conversations/${v.conversationId}/messages`, adminB, {
      clientId: randomUUID(),
      text: 'note \u0000',
      private: true,
    });
    expect(note.status).toBe(400);
    expect(note.json.error).toMatchObject({ field: 'text' });
    const me = await json('GET', `${a.base}/api/v1/auth/me`, adminA);
    const adminId = (me.json.user as { id: string }).id;
    const transfer = await json(
      'POST',
      `${a.base}/api/v1/conversations/${v.conversationId}/transfer`,
      adminA,
      {
        assigneeId: adminId,
        note: 'see \u0000',
      },
    );
    expect(transfer.status).toBe(400);
    expect(transfer.json.error).toMatchObject({ field: 'note' });
    const session = await json('POST', `${a.base}/api/v1/widget/session`, null, { name: 'Ann\u0000' });
    expect(session.status).toBe(400);
    expect(session.json.error).toMatchObject({ field: 'name' });

    const agent = await open(`${b.wsBase}/api/v1/ws`, { cookie: adminB }, {});
    agent.send({
      type: 'send',
      ref: 's',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'ok',
    });
    const ack = await agent.waitFor(isType('ack', (x) => x.ref === 's'));
    agent.send({ type: 'edit', ref: 'e', messageId: ack.messageId, text: 'edited \u0000' });
    expect(await agent.waitFor(isType('error', (e) => e.ref === 'e'))).toMatchObject({
      code: 'bad_frame',
      field: 'text',
    });

    // Nothing of it was stored; both sockets are still open.
    expect((await messagesOf(v.conversationId)).map((m) => m.text)).toEqual(['ok']);
    expect(visitor.isOpen && agent.isOpen).toBe(true);
  });

  it('cleans file names instead: an upload named with a NUL is stored without it', async () => {
    const v = await visitorOn(a.base);
    const form = new FormData();
    form.append('file', new Blob(['plain words']), 'bad\u0000name.txt');
    const res = await fetch(
      `${a.base}/api/v1/widget/conversations/${v.conversationId}/attachments?clientId=${randomUUID()}`,
      { method: 'POST', headers: { authorization: `Bearer ${v.token}` }, body: form },
    );
    expect(res.status).toBe(201);
    const body = (await res.json()) as { message: { attachment: { fileName: string } } };
    expect(body.message.attachment.fileName).toBe('badname.txt');
  });
});

describe('error frames', () => {
  it('echo ref and clientId for bad_frame, unknown_frame and text_too_long; an unparseable frame says so', async () => {
    const v = await visitorOn(a.base);
    const s = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    const clientId = `c-${randomUUID()}`;
    s.send({ type: 'send', ref: 'bad', conversationId: 'nope', clientId, text: 'x' });
    expect(await s.waitFor(isType('error', (e) => e.ref === 'bad'))).toMatchObject({
      code: 'bad_frame',
      field: 'conversationId',
      clientId,
    });
    s.send({ type: 'sned', ref: 'typo', clientId });
    expect(await s.waitFor(isType('error', (e) => e.ref === 'typo'))).toMatchObject({
      code: 'unknown_frame',
      clientId,
    });
    s.send({ type: 'send', ref: 'long', conversationId: v.conversationId, clientId, text: 'a'.repeat(5001) });
    expect(await s.waitFor(isType('error', (e) => e.ref === 'long'))).toMatchObject({
      code: 'text_too_long',
      field: 'text',
      clientId,
    });
    s.send({ type: 'send', ref: 'extra', conversationId: v.conversationId, clientId, text: 'x', more: 1 });
    expect(await s.waitFor(isType('error', (e) => e.ref === 'extra'))).toMatchObject({
      code: 'bad_frame',
      field: 'more',
    });
    // 30,000 levels of nesting (60 KB, within the frame limit): an answer, not a crash.
    const depth = 30_000;
    s.send(
      `{"type":"send","ref":"deep","conversationId":"${v.conversationId}","clientId":"${clientId}","text":${'['.repeat(depth)}"x"${']'.repeat(depth)}}`,
    );
    expect(await s.waitFor(isType('error', (e) => e.ref === 'deep'))).toMatchObject({
      code: 'bad_frame',
      field: 'text',
    });
    s.send('{"type":"send","ref":"cut');
    const cut = await s.waitFor(isType('error', (e) => /not valid JSON/.test(e.message)));
    expect(cut.ref).toBeUndefined();
    expect(cut.message).toMatch(/unparseable/);
    expect(s.isOpen).toBe(true);
  });
});

describe('numbers PostgreSQL cannot store', () => {
  it('a seq beyond a safe integer (1e308 is an integer to JSON) is a bad_frame / 400, never internal', async () => {
    const v = await visitorOn(a.base);
    const s = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    s.send({ type: 'read', ref: 'r', conversationId: v.conversationId, seq: 1e308 });
    expect(await s.waitFor(isType('error', (e) => e.ref === 'r'))).toMatchObject({
      code: 'bad_frame',
      field: 'seq',
    });
    s.send({
      type: 'resume',
      ref: 'm',
      conversations: [{ conversationId: v.conversationId, lastSeq: 2 ** 63 }],
    });
    expect(await s.waitFor(isType('error', (e) => e.ref === 'm'))).toMatchObject({ code: 'bad_frame' });
    const read = await json(
      'POST',
      `${a.base}/api/v1/widget/conversations/${v.conversationId}/read`,
      null,
      { seq: 1e308 },
      v.token,
    );
    expect(read.status).toBe(400);
    const page = await json(
      'GET',
      `${a.base}/api/v1/conversations/${v.conversationId}/messages?afterSeq=1e308`,
      adminA,
    );
    expect(page.status).toBe(400);
    expect(a.output()).not.toMatch(/invalid input syntax for type bigint/);
  });
});

describe('fuzzed frames', () => {
  it('answers 600 mutated frames without an internal error, a crash or a closed socket (seeded)', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 100_000);
    let state = seed;
    /** mulberry32: a small seeded generator, so a failure can be replayed with FUZZ_SEED. */
    const rand = () => {
      state = (state + 0x6d2b79f5) | 0;
      let x = Math.imul(state ^ (state >>> 15), 1 | state);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const v = await visitorOn(a.base);
    const pieces = ['a', '中', '😀', '\u0000', '\ud800', '\udc00', '"', '\\', '\n', ' ', '\u202e', '<b>'];
    const randomString = () => Array.from({ length: pick([1, 5, 64, 65, 300]) }, () => pick(pieces)).join('');
    const randomValue = (): unknown =>
      pick([
        () => randomString(),
        () => pick([0, -1, 1.5, 2 ** 53, 1e308, -0]),
        () => pick([true, false, null]),
        () => [randomString()],
        () => ({ [randomString()]: randomString() }),
        () => v.conversationId,
        () => randomUUID(),
      ])();
    const templates: Record<string, unknown>[] = [
      { type: 'send', conversationId: v.conversationId, clientId: `fz-${randomUUID()}`, text: 'hello' },
      { type: 'resume', conversations: [{ conversationId: v.conversationId, lastSeq: 0 }] },
      { type: 'typing', conversationId: v.conversationId, typing: true },
      { type: 'read', conversationId: v.conversationId, seq: 1 },
      { type: 'recall', messageId: randomUUID() },
      { type: 'edit', messageId: randomUUID(), text: 'x' },
      { type: 'presence', status: 'away' },
      { type: 'hello', token: v.token },
      { type: 'ping' },
    ];
    const sockets: TestSocket[] = [];
    for (let c = 0; c < 20; c++) {
      const s = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
      sockets.push(s);
      // 30 frames each: within a connection's burst (40).
      for (let i = 0; i < 30; i++) {
        const frame: Record<string, unknown> = { ...pick(templates), ref: `f${c}-${i}` };
        const mutation = pick(['field', 'field', 'field', 'drop', 'extra', 'type', 'raw', 'none']);
        const keys = Object.keys(frame);
        // Strings (text, token, ids) most often: that is where odd characters go.
        const stringKey = () => pick(keys.filter((k) => typeof frame[k] === 'string' && k !== 'type'));
        if (mutation === 'field') {
          for (let n = 1 + Math.floor(rand() * 2); n > 0; n--) {
            const k = rand() < 0.6 ? stringKey() : pick(keys);
            if (k) frame[k] = rand() < 0.6 ? randomString() : randomValue();
          }
        }
        if (mutation === 'drop') delete frame[pick(keys)];
        if (mutation === 'extra') frame[randomString() || 'x'] = randomValue();
        if (mutation === 'type') frame.type = randomString();
        s.send(mutation === 'raw' ? JSON.stringify(frame).slice(0, Math.floor(rand() * 80)) : frame);
      }
    }
    for (const [c, s] of sockets.entries()) {
      s.send({ type: 'ping', ref: `end${c}` });
      await s.waitFor(
        isType('pong', (p) => p.ref === `end${c}`),
        { timeoutMs: 20_000 },
      );
    }
    const internal = sockets.flatMap((s) =>
      s.frames.filter((f) => f.type === 'error' && f.code === 'internal'),
    );
    expect(internal, `seed ${seed}`).toEqual([]);
    expect(
      sockets.every((s) => s.isOpen),
      `seed ${seed}`,
    ).toBe(true);
    expect(a.output(), `seed ${seed}`).not.toMatch(/realtime frame failed|unexpected error/);
  });
});

describe('limits', () => {
  it('counts code points everywhere; the frame limit holds the longest message \\u-escaped and a full resume', async () => {
    const v = await visitorOn(a.base);
    const s = await open(`${a.wsBase}/api/v1/widget/ws`, {}, { token: v.token });
    const ready = s.frames.find(isType('ready'))!;
    expect(ready.limits).toMatchObject({
      maxTextChars: 5000,
      maxResumeEntries: 500,
      framesPerSecond: 20,
      framesBurst: 40,
    });
    expect(ready.limits.maxFrameBytes).toBeGreaterThanOrEqual(5000 * 12);

    /** A send frame written as Python's json.dumps does by default: every non-ASCII \u-escaped. */
    const escaped = (ref: string, text: string) =>
      JSON.stringify({
        type: 'send',
        ref,
        conversationId: v.conversationId,
        clientId: randomUUID(),
        text,
      }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const emoji = '😀';
    const cases: [string, string, 'ack' | 'text_too_long'][] = [
      ['zh', '中'.repeat(5000), 'ack'],
      ['emoji2501', emoji.repeat(2501), 'ack'],
      ['emoji5000', emoji.repeat(5000), 'ack'],
      ['emoji5001', emoji.repeat(5001), 'text_too_long'],
      ['zh5001', '中'.repeat(5001), 'text_too_long'],
    ];
    for (const [ref, text, expected] of cases) {
      const frame = escaped(ref, text);
      expect(frame.length).toBeLessThanOrEqual(ready.limits.maxFrameBytes);
      s.send(frame);
      const answer = await s.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.ref === ref);
      expect(answer.type === 'ack' ? 'ack' : (answer as Error).code, ref).toBe(expected);
    }
    // HTTP counts the same way.
    const http = (text: string) =>
      json(
        'POST',
        `${a.base}/api/v1/widget/conversations/${v.conversationId}/messages`,
        null,
        { clientId: randomUUID(), text },
        v.token,
      );
    expect((await http(emoji.repeat(5000))).status).toBe(201);
    const tooLong = await http(emoji.repeat(5001));
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.error).toMatchObject({ code: 'text_too_long', field: 'text' });
    const stored = await messagesOf(v.conversationId);
    expect(stored.map((m) => [...m.text].length)).toEqual([5000, 2501, 5000, 5000]);

    // A full resume (500 entries, pretty-printed) fits; 501 is a bad_frame naming the field.
    const entries = (n: number) =>
      Array.from({ length: n }, (_, i) => ({
        conversationId: i === 0 ? v.conversationId : randomUUID(),
        lastSeq: 999_999_999_999,
      }));
    const agent = await open(`${b.wsBase}/api/v1/ws`, { cookie: adminB }, {});
    agent.send(JSON.stringify({ type: 'resume', ref: 'full', conversations: entries(500) }, null, 1));
    await agent.waitFor(
      isType('resumed', (r) => r.ref === 'full' && r.conversationId === v.conversationId),
      {
        timeoutMs: 20_000,
      },
    );
    agent.send({ type: 'resume', ref: 'over', conversations: entries(501) });
    expect(await agent.waitFor(isType('error', (e) => e.ref === 'over'))).toMatchObject({
      code: 'bad_frame',
      field: 'conversations',
    });
    expect(s.isOpen && agent.isOpen).toBe(true);
  });
});

describe('a reconnect storm behind one address', () => {
  it('1,000 visitors reconnecting at once after a restart all resume and resend; none is closed', async () => {
    const N = 1000;
    const visitors: { token: string; conversationId: string }[] = [];
    for (let i = 0; i < N; i += 50) {
      visitors.push(
        ...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, () => visitorOn(b.base)))),
      );
    }
    // Restart B (SIGKILL, same port): every client reconnects at once with hello + resume, then
    // resends its one unacknowledged message (docs/PROTOCOL.md, "The resume procedure").
    const port = b.port;
    await b.kill9();
    b = await startServer(database.url, env, port);
    const started = performance.now();
    const storm: TestSocket[] = [];
    const results = await Promise.all(
      visitors.map((v, i) =>
        (async () => {
          const s = await TestSocket.open(`${b.wsBase}/api/v1/widget/ws`);
          storm.push(s);
          s.send({
            type: 'hello',
            token: v.token,
            resume: [{ conversationId: v.conversationId, lastSeq: 0 }],
          });
          await s.waitFor(isType('resumed'), { timeoutMs: 60_000 });
          s.send({
            type: 'send',
            ref: 'r',
            conversationId: v.conversationId,
            clientId: `storm-${i}-${randomUUID()}`,
            text: `after ${i}`,
          });
          await s.waitFor(isType('ack'), { timeoutMs: 60_000 });
        })().then(
          () => null,
          (err: unknown) => String(err),
        ),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const failed = results.filter((r) => r !== null);
    const closed = storm.filter((s) => !s.isOpen).length;
    for (const s of storm) s.ws.terminate();
    expect(failed.slice(0, 2), `${failed.length} of ${N} failed, ${closed} closed`).toEqual([]);
    expect(closed).toBe(0);
    // Converges in seconds (the bound leaves room for a loaded CI machine).
    expect(seconds).toBeLessThan(30);
  }, 180_000);
});
