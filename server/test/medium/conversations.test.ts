// Conversations end to end inside one process: real PostgreSQL, real sockets on loopback.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { identityHash } from '../../src/modules/conversations/visitor-tokens.ts';
import { createTestApp, signIn, httpClient } from '../support/app.ts';
import { TestSocket, isType } from '../support/realtime.ts';

const t = await createTestApp({
  PARLEY_WS_FRAMES_PER_SECOND: '50',
  PARLEY_WS_FRAMES_BURST: '60',
  PARLEY_MESSAGE_MAX_CHARS: '5000',
});
await t.app.listen({ host: '127.0.0.1', port: 0 });
const address = t.app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
const base = `http://127.0.0.1:${port}`;
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
  return {
    status: res.statusCode,
    json: () => res.json<Record<string, unknown> & { error?: { code: string; field?: string } }>(),
    res,
  };
}

async function visitor() {
  const session = await http('POST', '/api/v1/widget/session', { body: {} });
  expect(session.status).toBe(200);
  const token = session.json().token as string;
  const conv = await http('POST', '/api/v1/widget/conversations', { token });
  expect(conv.status).toBe(200);
  return { token, contactId: session.json().contactId as string, conversationId: conv.json().id as string };
}

async function visitorSocket(token: string, resume?: { conversationId: string; lastSeq: number }[]) {
  const s = await TestSocket.open(`${wsBase}/api/v1/widget/ws`);
  sockets.push(s);
  s.send({ type: 'hello', token, ...(resume ? { resume } : {}) });
  await s.waitFor(isType('ready'));
  return s;
}

async function agentSocket(cookie: string, resume?: { conversationId: string; lastSeq: number }[]) {
  const s = await TestSocket.open(`${wsBase}/api/v1/ws`, { cookie });
  sockets.push(s);
  s.send({ type: 'hello', ...(resume ? { resume } : {}) });
  await s.waitFor(isType('ready'));
  return s;
}

async function createTeam(name: string) {
  const row = await t.container.db
    .insertInto('teams')
    .values({ name })
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

describe('idempotent sends', () => {
  it('resending the same client id 5 times stores 1 row and gives 5 identical acks', async () => {
    const v = await visitor();
    const s = await visitorSocket(v.token);
    const clientId = randomUUID();
    for (let i = 0; i < 5; i++) {
      s.send({ type: 'send', ref: `r${i}`, conversationId: v.conversationId, clientId, text: 'hello there' });
    }
    for (let i = 0; i < 5; i++) await s.waitFor(isType('ack', (a) => a.ref === `r${i}`));
    const acks = s.frames.filter(isType('ack')).map(({ ref: _ref, ...rest }) => rest);
    expect(acks).toHaveLength(5);
    for (const a of acks) expect(a).toEqual(acks[0]);
    const rows = await t.container.db
      .selectFrom('messages')
      .select(['id', 'seq'])
      .where('conversation_id', '=', v.conversationId)
      .where('client_id', '=', clientId)
      .execute();
    expect(rows).toHaveLength(1);
    expect(acks[0]).toMatchObject({ messageId: rows[0]!.id, seq: rows[0]!.seq, clientId });
    // The HTTP fallback answers the same for the same client id.
    const again = await http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
      token: v.token,
      body: { clientId, text: 'hello there' },
    });
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ messageId: rows[0]!.id, seq: rows[0]!.seq, duplicate: true });
  });

  it('assigns gap-free, increasing seqs under concurrent senders', async () => {
    const v = await visitor();
    const admin = await signIn(t, 'admin');
    const sends = Array.from({ length: 40 }, (_, i) =>
      i % 2 === 0
        ? http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
            token: v.token,
            body: { clientId: `v-${i}-${randomUUID()}`, text: `visitor ${i}` },
          })
        : http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
            cookie: admin.cookie,
            body: { clientId: `a-${i}-${randomUUID()}`, text: `agent ${i}` },
          }),
    );
    const results = await Promise.all(sends);
    for (const r of results) expect(r.status).toBe(201);
    const seqs = (
      await t.container.db
        .selectFrom('messages')
        .select('seq')
        .where('conversation_id', '=', v.conversationId)
        .orderBy('seq')
        .execute()
    ).map((r) => r.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });
});

describe('resume after a disconnect', () => {
  it('replays exactly the missed messages, in order, before live traffic', async () => {
    const v = await visitor();
    const admin = await signIn(t, 'admin');
    const vs = await visitorSocket(v.token);
    vs.send({ type: 'send', conversationId: v.conversationId, clientId: randomUUID(), text: 'first' });
    const ack = await vs.waitFor(isType('ack'));
    await vs.close();

    const agent = await agentSocket(admin.cookie);
    const sent: number[] = [];
    for (let i = 1; i <= 4; i++) {
      agent.send({
        type: 'send',
        ref: `m${i}`,
        conversationId: v.conversationId,
        clientId: randomUUID(),
        text: `missed ${i}`,
      });
      sent.push((await agent.waitFor(isType('ack', (a) => a.ref === `m${i}`))).seq);
    }
    // A private note in between: never replayed to the visitor.
    agent.send({
      type: 'send',
      ref: 'note',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'secret',
      private: true,
    });
    await agent.waitFor(isType('ack', (a) => a.ref === 'note'));

    const back = await visitorSocket(v.token, [{ conversationId: v.conversationId, lastSeq: ack.seq }]);
    const resumed = await back.waitFor(isType('resumed'));
    expect(resumed.replayed).toBe(4);
    expect(back.messages().map((m) => m.text)).toEqual(['missed 1', 'missed 2', 'missed 3', 'missed 4']);
    expect(back.messages().map((m) => m.seq)).toEqual(sent);

    // Live traffic continues after the replay.
    agent.send({
      type: 'send',
      ref: 'live',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'live one',
    });
    await back.waitFor(isType('message', (m) => m.message.text === 'live one'));
    expect(back.messages().map((m) => m.text)).toEqual([
      'missed 1',
      'missed 2',
      'missed 3',
      'missed 4',
      'live one',
    ]);
    expect(JSON.stringify(back.frames)).not.toContain('secret');
  });
});

describe('private notes', () => {
  it('never reach a visitor socket or the visitor history API; agents see them', async () => {
    const v = await visitor();
    const admin = await signIn(t, 'admin');
    const vs = await visitorSocket(v.token);
    const agent = await agentSocket(admin.cookie);
    const note = await http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
      body: { clientId: randomUUID(), text: 'internal: VIP customer', private: true },
    });
    expect(note.status).toBe(201);
    const pub = await http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
      body: { clientId: randomUUID(), text: 'How can I help?' },
    });
    await vs.waitFor(isType('message', (m) => m.message.text === 'How can I help?'));
    await agent.waitFor(isType('message', (m) => m.message.text === 'internal: VIP customer'));
    expect(JSON.stringify(vs.frames)).not.toContain('VIP');
    const history = await http('GET', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
      token: v.token,
    });
    expect(history.status).toBe(200);
    expect(JSON.stringify(history.json())).not.toContain('VIP');
    expect((history.json().messages as { text: string }[]).map((m) => m.text)).toContain('How can I help?');
    // The visitor's seq view skips the note without a hole in what they can fetch.
    const agentHistory = await http('GET', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
    });
    expect(JSON.stringify(agentHistory.json())).toContain('VIP');
    expect(pub.json().seq).toBeGreaterThan(note.json().seq as number);
  });
});

describe('recall and edit', () => {
  it('recalls within 2 minutes (text kept in the audit trail, hidden from the visitor), refuses later', async () => {
    const v = await visitor();
    const admin = await signIn(t, 'admin');
    const send = async (text: string) =>
      (
        await http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
          cookie: admin.cookie,
          body: { clientId: randomUUID(), text },
        })
      ).json();
    const fresh = await send('oops, wrong customer data');
    const recall = await http('POST', `/api/v1/messages/${fresh.messageId as string}/recall`, {
      cookie: admin.cookie,
    });
    expect(recall.status).toBe(200);
    expect(recall.json().recalled).toBe(true);
    const history = await http('GET', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
      token: v.token,
    });
    expect(JSON.stringify(history.json())).not.toContain('wrong customer data');
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select('details')
      .where('action', '=', 'message.recall')
      .where('target_id', '=', fresh.messageId as string)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(audit.details)).toContain('wrong customer data');

    const old = await send('an older message');
    await t.container.db
      .updateTable('messages')
      .set({ created_at: new Date(Date.now() - 121_000) })
      .where('id', '=', old.messageId as string)
      .execute();
    const late = await http('POST', `/api/v1/messages/${old.messageId as string}/recall`, {
      cookie: admin.cookie,
    });
    expect(late.status).toBe(409);
    expect(late.json().error!.code).toBe('conflict');
    const lateEdit = await http('PATCH', `/api/v1/messages/${old.messageId as string}`, {
      cookie: admin.cookie,
      body: { text: 'changed' },
    });
    expect(lateEdit.status).toBe(409);

    const editable = await send('teh typo');
    const edit = await http('PATCH', `/api/v1/messages/${editable.messageId as string}`, {
      cookie: admin.cookie,
      body: { text: 'the typo' },
    });
    expect(edit.status).toBe(200);
    expect(edit.json()).toMatchObject({ text: 'the typo' });
    expect(edit.json().editedAt).not.toBeNull();
  });

  it('keeps the list preview true after a recall or an edit of the latest message', async () => {
    const v = await visitor();
    const admin = await signIn(t, 'admin');
    const preview = async () =>
      (await http('GET', `/api/v1/conversations/${v.conversationId}`, { cookie: admin.cookie })).json()
        .lastMessagePreview as string;
    await http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
      token: v.token,
      body: { clientId: randomUUID(), text: 'where is my parcel?' },
    });
    const reply = await http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
      body: { clientId: randomUUID(), text: 'it ships tomorow' },
    });
    expect(await preview()).toBe('it ships tomorow');
    await http('PATCH', `/api/v1/messages/${reply.json().messageId as string}`, {
      cookie: admin.cookie,
      body: { text: 'it ships tomorrow' },
    });
    expect(await preview()).toBe('it ships tomorrow');
    await http('POST', `/api/v1/messages/${reply.json().messageId as string}/recall`, {
      cookie: admin.cookie,
    });
    expect(await preview()).toBe('where is my parcel?');
    // The system lines the agent's actions wrote name the agent to the console, and never show the
    // visitor a staff user's id.
    const staff = (
      await http('GET', `/api/v1/conversations/${v.conversationId}/messages`, { cookie: admin.cookie })
    ).json().messages as { kind: string; senderName: string | null }[];
    const { display_name: name } = await t.container.db
      .selectFrom('users')
      .select('display_name')
      .where('id', '=', admin.userId)
      .executeTakeFirstOrThrow();
    expect(staff.filter((m) => m.kind === 'system').map((m) => m.senderName)).toEqual([name, name]);
    const seen = (
      await http('GET', `/api/v1/widget/conversations/${v.conversationId}/messages`, { token: v.token })
    ).json().messages as { senderType: string; senderId: string | null }[];
    expect(seen.filter((m) => m.senderType !== 'visitor').map((m) => m.senderId)).toEqual(
      seen.filter((m) => m.senderType !== 'visitor').map(() => null),
    );
  });

  it('lets a visitor recall only their own message', async () => {
    const v = await visitor();
    const other = await visitor();
    const mine = await http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
      token: v.token,
      body: { clientId: randomUUID(), text: 'my card number is wrong' },
    });
    const stranger = await http('POST', `/api/v1/widget/messages/${mine.json().messageId as string}/recall`, {
      token: other.token,
    });
    expect(stranger.status).toBe(404);
    const own = await http('POST', `/api/v1/widget/messages/${mine.json().messageId as string}/recall`, {
      token: v.token,
    });
    expect(own.status).toBe(200);
    expect(own.json()).toMatchObject({ recalled: true, text: '' });
  });
});

describe('attachments', () => {
  const png = Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
    'base64',
  );

  async function upload(
    v: { token: string; conversationId: string },
    name: string,
    data: Buffer,
    type: string,
  ) {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(data)], { type }), name);
    const res = await fetch(
      `${base}/api/v1/widget/conversations/${v.conversationId}/attachments?clientId=${randomUUID()}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${v.token}` },
        body: form,
      },
    );
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown> & { error?: { message: string } },
    };
  }

  it('refuses HTML disguised as a PNG, and SVG', async () => {
    const v = await visitor();
    const html = await upload(
      v,
      'cat.png',
      Buffer.from('<!DOCTYPE html><html><script>alert(1)</script></html>'),
      'image/png',
    );
    expect(html.status).toBe(400);
    expect(html.body.error!.message).toMatch(/HTML|not accepted/);
    const svg = await upload(
      v,
      'logo.svg',
      Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
      'image/svg+xml',
    );
    expect(svg.status).toBe(400);
    const count = await t.container.db
      .selectFrom('attachments')
      .select('id')
      .where('conversation_id', '=', v.conversationId)
      .execute();
    expect(count).toHaveLength(0);
  });

  it('stores a real image, serves it inline only to authorized readers; other files as downloads', async () => {
    const v = await visitor();
    const ok = await upload(v, 'photo.png', png, 'application/octet-stream');
    expect(ok.status).toBe(201);
    const message = ok.body.message as { kind: string; attachment: { id: string; contentType: string } };
    expect(message.kind).toBe('image');
    expect(message.attachment.contentType).toBe('image/png');
    const got = await fetch(`${base}/api/v1/widget/attachments/${message.attachment.id}`, {
      headers: { authorization: `Bearer ${v.token}` },
    });
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('content-disposition')).toMatch(/^inline/);
    expect(Buffer.from(await got.arrayBuffer()).equals(png)).toBe(true);

    const other = await visitor();
    const denied = await fetch(`${base}/api/v1/widget/attachments/${message.attachment.id}`, {
      headers: { authorization: `Bearer ${other.token}` },
    });
    expect(denied.status).toBe(404);

    const txt = await upload(v, 'notes.txt', Buffer.from('order 1234, delivered late\n'), 'text/plain');
    expect(txt.status).toBe(201);
    const txtId = (txt.body.message as { attachment: { id: string } }).attachment.id;
    const dl = await fetch(`${base}/api/v1/widget/attachments/${txtId}`, {
      headers: { authorization: `Bearer ${v.token}` },
    });
    expect(dl.headers.get('content-disposition')).toMatch(/^attachment/);
  });
});

describe('team scoping', () => {
  it('an agent of team A cannot read, send to, list, resume or hear of a team B conversation', async () => {
    const teamA = await createTeam(`A-${randomUUID().slice(0, 6)}`);
    const teamB = await createTeam(`B-${randomUUID().slice(0, 6)}`);
    const agentA = await signIn(t, 'agent', { teamIds: [teamA] });
    const v = await visitor();
    await routeTo(v.conversationId, teamB);
    const sockA = await agentSocket(agentA.cookie);

    const missing = randomUUID();
    for (const id of [v.conversationId, missing]) {
      const get = await http('GET', `/api/v1/conversations/${id}`, { cookie: agentA.cookie });
      expect(get.status).toBe(404);
      expect(get.json().error!.code).toBe('not_found');
      const msgs = await http('GET', `/api/v1/conversations/${id}/messages`, { cookie: agentA.cookie });
      expect(msgs.status).toBe(404);
      const send = await http('POST', `/api/v1/conversations/${id}/messages`, {
        cookie: agentA.cookie,
        body: { clientId: randomUUID(), text: 'hi' },
      });
      expect(send.status).toBe(404);
      expect(send.json().error).toEqual(get.json().error);
    }
    const list = await http('GET', '/api/v1/conversations?view=all', { cookie: agentA.cookie });
    expect(JSON.stringify(list.json())).not.toContain(v.conversationId);

    sockA.send({
      type: 'resume',
      ref: 'r',
      conversations: [{ conversationId: v.conversationId, lastSeq: 0 }],
    });
    const err = await sockA.waitFor(isType('error', (e) => e.ref === 'r'));
    expect(err.code).toBe('not_found');
    sockA.send({
      type: 'send',
      ref: 's',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'sneaky',
    });
    expect((await sockA.waitFor(isType('error', (e) => e.ref === 's'))).code).toBe('not_found');

    // The visitor writes; team A hears nothing. A team B agent does.
    const agentB = await signIn(t, 'agent', { teamIds: [teamB] });
    const sockB = await agentSocket(agentB.cookie);
    await http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
      token: v.token,
      body: { clientId: randomUUID(), text: 'for team B only' },
    });
    await sockB.waitFor(isType('message', (m) => m.message.text === 'for team B only'));
    sockA.send({ type: 'ping', ref: 'sync' });
    await sockA.waitFor(isType('pong', (p) => p.ref === 'sync'));
    expect(JSON.stringify(sockA.frames)).not.toContain(v.conversationId);
    const rowCount = await t.container.db
      .selectFrom('messages')
      .select('id')
      .where('conversation_id', '=', v.conversationId)
      .where('body', '=', 'sneaky')
      .execute();
    expect(rowCount).toHaveLength(0);

    // An auditor sees no conversations at all.
    const auditor = await signIn(t, 'auditor');
    expect((await http('GET', '/api/v1/conversations', { cookie: auditor.cookie })).status).toBe(403);
  });
});

describe('assignment and status', () => {
  it('claims, transfers with a note only agents see, resolves, and a visitor message reopens', async () => {
    const team = await createTeam(`T-${randomUUID().slice(0, 6)}`);
    const ann = await signIn(t, 'agent', { teamIds: [team] });
    const bob = await signIn(t, 'agent', { teamIds: [team] });
    const v = await visitor();
    await routeTo(v.conversationId, team);
    const bobSocket = await agentSocket(bob.cookie);
    const vs = await visitorSocket(v.token);

    const claim = await http('POST', `/api/v1/conversations/${v.conversationId}/claim`, {
      cookie: ann.cookie,
    });
    expect(claim.status).toBe(200);
    expect(claim.json().assignee).toMatchObject({ id: ann.userId });
    const bobClaim = await http('POST', `/api/v1/conversations/${v.conversationId}/claim`, {
      cookie: bob.cookie,
    });
    expect(bobClaim.status).toBe(409);

    const transfer = await http('POST', `/api/v1/conversations/${v.conversationId}/transfer`, {
      cookie: ann.cookie,
      body: { assigneeId: bob.userId, note: 'Customer wants a refund for order 1234' },
    });
    expect(transfer.status).toBe(200);
    await bobSocket.waitFor(
      isType('message', (m) => m.message.text === 'Customer wants a refund for order 1234'),
    );
    await bobSocket.waitFor(
      isType(
        'conversation',
        (c) => 'assignee' in c.conversation && c.conversation.assignee?.id === bob.userId,
      ),
    );
    await vs.waitFor(isType('message', (m) => m.message.event?.type === 'transferred'));
    expect(JSON.stringify(vs.frames)).not.toContain('refund');
    const audit = await t.container.db
      .selectFrom('audit_log')
      .select(['actor_id', 'details'])
      .where('action', '=', 'conversation.transfer')
      .where('target_id', '=', v.conversationId)
      .executeTakeFirstOrThrow();
    expect(audit.actor_id).toBe(ann.userId);

    const mine = await http('GET', '/api/v1/conversations?view=mine', { cookie: bob.cookie });
    expect((mine.json().conversations as { id: string }[]).map((c) => c.id)).toContain(v.conversationId);

    const resolved = await http('POST', `/api/v1/conversations/${v.conversationId}/resolve`, {
      cookie: bob.cookie,
    });
    expect(resolved.json()).toMatchObject({ status: 'resolved' });
    expect(resolved.json().resolvedAt).not.toBeNull();
    vs.send({
      type: 'send',
      ref: 'back',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'one more thing',
    });
    await vs.waitFor(isType('ack', (a) => a.ref === 'back'));
    const after = await http('GET', `/api/v1/conversations/${v.conversationId}`, { cookie: bob.cookie });
    expect(after.json()).toMatchObject({
      status: 'open',
      resolvedAt: null,
      unread: expect.any(Number) as number,
    });
    await bobSocket.waitFor(
      isType(
        'conversation',
        (c) => c.conversation.id === v.conversationId && c.conversation.status === 'open',
      ),
    );

    const snooze = await http('POST', `/api/v1/conversations/${v.conversationId}/snooze`, {
      cookie: bob.cookie,
      body: { until: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect(snooze.json()).toMatchObject({ status: 'snoozed' });
  });

  it('lists with filters, search, unread counts and cursor pagination', async () => {
    const admin = await signIn(t, 'admin');
    const marker = `needle${randomUUID().slice(0, 8)}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const v = await visitor();
      ids.push(v.conversationId);
      await http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
        token: v.token,
        body: { clientId: randomUUID(), text: `looking for ${marker} number ${i}` },
      });
    }
    const page1 = await http('GET', `/api/v1/conversations?q=${marker}&limit=2`, { cookie: admin.cookie });
    expect(page1.status).toBe(200);
    const p1 = page1.json() as { conversations: { id: string; unread: number }[]; nextCursor: string };
    expect(p1.conversations).toHaveLength(2);
    expect(p1.conversations[0]!.unread).toBe(1);
    const page2 = await http('GET', `/api/v1/conversations?q=${marker}&limit=2&cursor=${p1.nextCursor}`, {
      cookie: admin.cookie,
    });
    const p2 = page2.json() as { conversations: { id: string }[]; nextCursor: string | null };
    expect(p2.nextCursor).toBeNull();
    expect([...p1.conversations, ...p2.conversations].map((c) => c.id).sort()).toEqual([...ids].sort());
    const read = await http('POST', `/api/v1/conversations/${ids[0]}/read`, {
      cookie: admin.cookie,
      body: { seq: 1 },
    });
    expect(read.json()).toEqual({ readSeq: 1 });
    const one = await http('GET', `/api/v1/conversations/${ids[0]}`, { cookie: admin.cookie });
    expect(one.json().unread).toBe(0);
    const bad = await http('GET', '/api/v1/conversations?status=closed', { cookie: admin.cookie });
    expect(bad.status).toBe(400);
  });
});

describe('bad input on the socket', () => {
  it('answers malformed, unknown and oversized frames with an error naming the problem; the connection stays', async () => {
    const v = await visitor();
    const s = await visitorSocket(v.token);
    s.send('not json');
    expect((await s.waitFor(isType('error'))).code).toBe('bad_frame');
    s.send({ type: 'teleport' });
    const unknown = await s.waitFor(isType('error', (e) => e.code === 'unknown_frame'));
    expect(unknown.message).toContain('teleport');
    s.send({
      type: 'send',
      ref: 'x',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: 'a'.repeat(5001),
    });
    const long = await s.waitFor(isType('error', (e) => e.code === 'text_too_long'));
    expect(long).toMatchObject({ ref: 'x', field: 'text' });
    s.send({ type: 'send', conversationId: 'not-a-uuid', clientId: randomUUID(), text: 'x' });
    const wrong = await s.waitFor(isType('error', (e) => e.field === 'conversationId'));
    expect(wrong.code).toBe('bad_frame');
    s.send({ type: 'send', conversationId: v.conversationId, clientId: randomUUID(), text: 'x', extra: 1 });
    expect((await s.waitFor(isType('error', (e) => e.field === 'extra'))).message).toMatch(/unknown field/);
    s.send({ type: 'ping', ref: 'still-here' });
    await s.waitFor(isType('pong', (p) => p.ref === 'still-here'));
    expect(s.isOpen).toBe(true);
  });

  it('closes a flooding connection with 1008', async () => {
    const v = await visitor();
    const s = await visitorSocket(v.token);
    for (let i = 0; i < 200; i++) s.send({ type: 'ping' });
    const closed = await s.closed;
    expect(closed.code).toBe(1008);
    expect(s.frames.some((f) => f.type === 'error' && f.code === 'rate_limited')).toBe(true);
  });

  it('refuses a visitor socket without a valid token, and an agent socket without a session', async () => {
    const s = await TestSocket.open(`${wsBase}/api/v1/widget/ws`);
    sockets.push(s);
    s.send({ type: 'hello', token: 'pv1.forged.token' });
    expect((await s.waitFor(isType('error'))).code).toBe('unauthorized');
    s.send({ type: 'send', conversationId: randomUUID(), clientId: randomUUID(), text: 'x' });
    expect((await s.waitFor(isType('error', (e) => e.message.includes('hello')))).code).toBe('unauthorized');
    await expect(TestSocket.open(`${wsBase}/api/v1/ws`)).rejects.toThrow(/401/);
    const admin = await signIn(t, 'admin');
    await expect(
      TestSocket.open(`${wsBase}/api/v1/ws`, { cookie: admin.cookie, origin: 'https://evil.example' }),
    ).rejects.toThrow(/403/);
  });
});

describe('identity verification', () => {
  it('merges a verified user id into the known contact; a wrong hash is refused', async () => {
    const channels = await http('GET', '/api/v1/channels', { cookie: (await signIn(t, 'admin')).cookie });
    const channel = (channels.json().channels as { id: string; identitySecret: string }[])[0]!;
    const userId = `customer-${randomUUID()}`;
    const first = await http('POST', '/api/v1/widget/session', {
      body: { userId, userHash: identityHash(userId, channel.identitySecret) },
    });
    expect(first.json()).toMatchObject({ verified: true });
    const anon = await visitor();
    const merged = await http('POST', '/api/v1/widget/session', {
      body: { token: anon.token, userId, userHash: identityHash(userId, channel.identitySecret) },
    });
    expect(merged.json().contactId).toBe(first.json().contactId);
    const convs = await http('GET', '/api/v1/widget/conversations', { token: merged.json().token as string });
    expect((convs.json().conversations as { id: string }[]).map((c) => c.id)).toContain(anon.conversationId);
    const forged = await http('POST', '/api/v1/widget/session', {
      body: { userId, userHash: 'ab'.repeat(32) },
    });
    expect(forged.status).toBe(401);
  });
});

describe('ephemeral signals and read receipts', () => {
  it('forwards typing (throttled, expiring, never stored) and read receipts to the other side', async () => {
    const v = await visitor();
    const admin = await signIn(t, 'admin');
    const vs = await visitorSocket(v.token);
    const agent = await agentSocket(admin.cookie);
    agent.send({ type: 'typing', conversationId: v.conversationId, typing: true });
    agent.send({ type: 'typing', conversationId: v.conversationId, typing: true });
    agent.send({ type: 'typing', conversationId: v.conversationId, typing: false });
    const typing = await vs.waitFor(isType('typing', (f) => f.typing));
    expect(typing.expiresInMs).toBeGreaterThan(0);
    expect(typing.who).toMatchObject({ type: 'agent', id: '' });
    await vs.waitFor(isType('typing', (f) => !f.typing));
    // The second "typing: true" within the throttle window was not forwarded.
    expect(vs.frames.filter(isType('typing', (f) => f.typing))).toHaveLength(1);
    expect(agent.frames.filter(isType('typing'))).toHaveLength(0);

    const sent = await http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
      body: { clientId: randomUUID(), text: 'did you get this?' },
    });
    vs.send({ type: 'read', ref: 'rd', conversationId: v.conversationId, seq: sent.json().seq as number });
    await vs.waitFor(isType('ok', (f) => f.ref === 'rd'));
    const receipt = await agent.waitFor(isType('read', (f) => f.conversationId === v.conversationId));
    expect(receipt).toMatchObject({
      reader: { type: 'visitor', id: v.contactId },
      seq: sent.json().seq as number,
    });
    const row = await t.container.db
      .selectFrom('conversations')
      .select('visitor_read_seq')
      .where('id', '=', v.conversationId)
      .executeTakeFirstOrThrow();
    expect(row.visitor_read_seq).toBe(sent.json().seq);
    const stored = await t.container.db
      .selectFrom('messages')
      .select('id')
      .where('conversation_id', '=', v.conversationId)
      .execute();
    expect(stored).toHaveLength(1);
  });

  it('wakes a snoozed conversation when its time has come', async () => {
    const v = await visitor();
    const admin = await signIn(t, 'admin');
    await http('POST', `/api/v1/conversations/${v.conversationId}/snooze`, {
      cookie: admin.cookie,
      body: { until: new Date(Date.now() + 60_000).toISOString() },
    });
    await t.container.db
      .updateTable('conversations')
      .set({ snoozed_until: new Date(Date.now() - 1000) })
      .where('id', '=', v.conversationId)
      .execute();
    expect(await t.container.conversations.wakeSnoozed()).toBeGreaterThanOrEqual(1);
    const after = await http('GET', `/api/v1/conversations/${v.conversationId}`, { cookie: admin.cookie });
    expect(after.json()).toMatchObject({ status: 'open', snoozedUntil: null });
  });
});
