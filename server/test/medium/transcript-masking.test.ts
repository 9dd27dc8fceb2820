// Transcript masking as a data-protection officer checks it: with the setting on, phone, PRC
// ID-card and bank-card numbers typed in chat reach agents (HTTP and WebSocket), previews, search
// and the audit trail masked; the database holds only ciphertext of the original; the original
// comes back only through an audited reveal with pii.reveal, or in the data subject's export.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRetentionService } from '../../src/modules/security/retention.service.ts';
import { createSecurityRepository } from '../../src/modules/security/security.repository.ts';
import { createSecurityService } from '../../src/modules/security/security.service.ts';
import { generateKey } from '../../src/platform/crypto/keyring.ts';
import { actorOf, createTestApp, signIn, tablesHolding, httpClient } from '../support/app.ts';
import { TestSocket, isType } from '../support/realtime.ts';
import fc from 'fast-check';
import { digitsOf, message } from '../support/sensitive-numbers.ts';

const t = await createTestApp({
  PARLEY_ENCRYPTION_KEYS: `k1:${generateKey()}`,
  PARLEY_LOOKUP_KEY: generateKey(),
});
await t.app.listen({ host: '127.0.0.1', port: 0 });
const address = t.app.server.address();
const wsBase = `ws://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
const sockets: TestSocket[] = [];
afterAll(async () => {
  for (const s of sockets) if (s.isOpen) await s.close();
});

const PHONE = '13912345678';
const ID_CARD = '440305199003071236';
const CARD = '6222021234567890128';
// An order number and a millisecond timestamp that pass Luhn but are not cards: left alone.
const ORDER = '2024112100012344';
const STAMP = '1732176000005';
const TYPED = `手机 ${PHONE}，身份证 ${ID_CARD}，卡号 6222 0212 3456 7890 128，订单 ${ORDER} 时间 ${STAMP}`;
const SHOWN = `手机 139****5678，身份证 440***********1236，卡号 ***************0128，订单 ${ORDER} 时间 ${STAMP}`;
/** What must not be stored in clear anywhere: the numbers, whole or in their typed form. */
const SECRETS = [PHONE, ID_CARD, CARD, '6222 0212 3456', '12345678', '199003071'];

const http = httpClient(t);

async function visitor() {
  const session = await http('POST', '/api/v1/widget/session', { body: { name: '孙八' } });
  expect(session.statusCode, session.body).toBe(200);
  const { token, contactId } = session.json<{ token: string; contactId: string }>();
  const conv = await http('POST', '/api/v1/widget/conversations', { token });
  return { token, contactId, conversationId: conv.json<{ id: string }>().id };
}

async function socket(url: string, hello: Record<string, unknown>, headers: Record<string, string> = {}) {
  const s = await TestSocket.open(`${wsBase}${url}`, headers);
  sockets.push(s);
  s.send({ type: 'hello', ...hello });
  await s.waitFor(isType('ready'));
  return s;
}

async function auditOf(action: string) {
  return t.container.db
    .selectFrom('audit_log')
    .select(['actor_id', 'target_id', 'details'])
    .where('action', '=', action)
    .execute();
}

const holdersOf = (needles: readonly string[]) => tablesHolding(t.container.db, needles);

/** The visitor sends a message over HTTP; returns its id and the message as sent back. */
async function say(v: { token: string; conversationId: string }, text: string) {
  const res = await http('POST', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
    token: v.token,
    body: { clientId: randomUUID(), text },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json<{ messageId: string; message: { text: string; masked: boolean } }>();
}

describe('the transcript masking setting', () => {
  it('cannot be turned on without encryption keys (the original would have nowhere safe to go)', async () => {
    const admin = await signIn(t, 'admin');
    const withoutKeys = createSecurityService({
      db: t.container.db,
      repo: createSecurityRepository(),
      auditTrail: t.container.auditTrail,
      encryptionConfigured: false,
    });
    await expect(withoutKeys.update(actorOf(admin), { transcriptMasking: true })).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining('PARLEY_ENCRYPTION_KEYS') as unknown,
    });
  });

  it('is off by default (messages stored as typed), and turning it on is audited', async () => {
    const admin = await signIn(t, 'admin');
    const settings = await http('GET', '/api/v1/security/settings', { cookie: admin.cookie });
    expect(settings.json()).toMatchObject({ transcriptMasking: false });

    const v = await visitor();
    expect((await say(v, `我的电话 ${PHONE}`)).message).toMatchObject({
      text: `我的电话 ${PHONE}`,
      masked: false,
    });
    // Clean up: this test's clear-text message would spoil the "no table holds" scans below.
    await t.container.db.deleteFrom('conversations').where('id', '=', v.conversationId).execute();

    const on = await http('PATCH', '/api/v1/security/settings', {
      cookie: admin.cookie,
      body: { transcriptMasking: true },
    });
    expect(on.statusCode, on.body).toBe(200);
    expect(on.json()).toMatchObject({ transcriptMasking: true });
    const audited = await auditOf('settings.update');
    expect(audited.at(-1)).toMatchObject({
      actor_id: admin.userId,
      details: { transcriptMasking: { from: false, to: true } },
    });
  });
});

describe('masked messages', () => {
  it('reach agents masked over HTTP and WebSocket; the database holds no digits; search does not match them', async () => {
    const admin = await signIn(t, 'admin');
    const agentSocket = await socket(
      '/api/v1/ws',
      {},
      { cookie: admin.cookie, origin: 'http://localhost:8080' },
    );
    const v = await visitor();
    const visitorSocket = await socket('/api/v1/widget/ws', { token: v.token });

    visitorSocket.send({
      type: 'send',
      ref: 's1',
      conversationId: v.conversationId,
      clientId: randomUUID(),
      text: TYPED,
    });
    const ack = await visitorSocket.waitFor(isType('ack', (a) => a.ref === 's1'));
    // The visitor's own copy comes back masked too (see docs/SECURITY.md).
    const own = await visitorSocket.waitFor(isType('message', (f) => f.message.id === ack.messageId));
    expect(own.message).toMatchObject({ text: SHOWN, masked: true });
    const live = await agentSocket.waitFor(
      isType('message', (f) => f.message.conversationId === v.conversationId && f.message.kind === 'text'),
    );
    expect(live.message).toMatchObject({ id: ack.messageId, text: SHOWN, masked: true });

    const history = await http('GET', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
    });
    expect(history.json<{ messages: { text: string; masked: boolean }[] }>().messages).toEqual([
      expect.objectContaining({ text: SHOWN, masked: true }),
    ]);
    const conversation = await http('GET', `/api/v1/conversations/${v.conversationId}`, {
      cookie: admin.cookie,
    });
    expect(conversation.json()).toMatchObject({ lastMessagePreview: SHOWN });
    const widgetHistory = await http('GET', `/api/v1/widget/conversations/${v.conversationId}/messages`, {
      token: v.token,
    });
    expect(JSON.stringify(widgetHistory.json())).toContain(SHOWN);

    // Search finds the words that were not masked, never the masked digits.
    const search = async (q: string) =>
      (
        await http('GET', `/api/v1/conversations?view=all&q=${encodeURIComponent(q)}`, {
          cookie: admin.cookie,
        })
      )
        .json<{ conversations: { id: string }[] }>()
        .conversations.map((c) => c.id);
    expect(await search(ORDER)).toContain(v.conversationId);
    for (const secret of [PHONE, ID_CARD, CARD]) expect(await search(secret)).not.toContain(v.conversationId);

    // At rest: the original is ciphertext under the active key; no table holds the numbers.
    const original = await t.container.db
      .selectFrom('message_originals')
      .select('original_enc')
      .where('message_id', '=', ack.messageId)
      .executeTakeFirstOrThrow();
    expect(original.original_enc).toMatch(/^pe1:k1:/);
    expect(await holdersOf(SECRETS)).toEqual([]);
  });

  it('are revealed only with pii.reveal, each reveal audited once; other roles get 403, unknown ids 404', async () => {
    const admin = await signIn(t, 'admin');
    const v = await visitor();
    const { messageId } = await say(v, TYPED);
    const before = (await auditOf('message.pii_reveal')).length;

    for (const role of ['agent', 'supervisor', 'auditor'] as const) {
      const u = await signIn(t, role);
      const res = await http('POST', `/api/v1/messages/${messageId}/reveal`, { cookie: u.cookie });
      expect(res.statusCode, role).toBe(403);
      expect(res.body).not.toContain(PHONE);
    }
    const unknown = await http('POST', `/api/v1/messages/${randomUUID()}/reveal`, { cookie: admin.cookie });
    expect(unknown.statusCode).toBe(404);
    expect((await auditOf('message.pii_reveal')).length).toBe(before);

    const revealed = await http('POST', `/api/v1/messages/${messageId}/reveal`, { cookie: admin.cookie });
    expect(revealed.statusCode, revealed.body).toBe(200);
    expect(revealed.json()).toEqual({ id: messageId, text: TYPED });
    const audited = await auditOf('message.pii_reveal');
    expect(audited.length).toBe(before + 1);
    expect(audited.at(-1)).toMatchObject({
      actor_id: admin.userId,
      target_id: messageId,
      details: { conversationId: v.conversationId },
    });
    expect(JSON.stringify(audited)).not.toContain(PHONE);

    // A message with nothing masked has nothing to reveal.
    const plain = await say(v, `订单 ${ORDER}`);
    expect(plain.message.masked).toBe(false);
    const nothing = await http('POST', `/api/v1/messages/${plain.messageId}/reveal`, {
      cookie: admin.cookie,
    });
    expect(nothing.statusCode).toBe(409);
    expect(await holdersOf(SECRETS)).toEqual([]);
  });

  it('agent messages, private notes, transfer notes and edits are masked the same way', async () => {
    const admin = await signIn(t, 'admin');
    const other = await signIn(t, 'agent');
    const v = await visitor();
    const reply = await http('POST', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
      body: { clientId: randomUUID(), text: `已登记手机 ${PHONE}`, private: true },
    });
    expect(reply.statusCode, reply.body).toBe(201);
    const replyMessage = reply.json<{ message: { id: string; text: string; masked: boolean } }>().message;
    expect(replyMessage).toMatchObject({ text: '已登记手机 139****5678', masked: true });

    const transfer = await http('POST', `/api/v1/conversations/${v.conversationId}/transfer`, {
      cookie: admin.cookie,
      body: { assigneeId: other.userId, note: `客户卡号 ${CARD}` },
    });
    expect(transfer.statusCode, transfer.body).toBe(200);
    const messages = await http('GET', `/api/v1/conversations/${v.conversationId}/messages`, {
      cookie: admin.cookie,
    });
    const note = messages
      .json<{ messages: { id: string; text: string; masked: boolean; private: boolean }[] }>()
      .messages.find((m) => m.text.startsWith('客户卡号'))!;
    expect(note).toMatchObject({ text: '客户卡号 ***************0128', masked: true, private: true });

    // Edit to another number: the event and the audit record carry the masked text, the
    // reveal the new original. Edit to no number at all: nothing masked, nothing kept.
    const edited = await http('PATCH', `/api/v1/messages/${replyMessage.id}`, {
      cookie: admin.cookie,
      body: { text: `改为身份证 ${ID_CARD}` },
    });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ text: '改为身份证 440***********1236', masked: true });
    expect((await auditOf('message.edit')).at(-1)).toMatchObject({
      details: { previousText: '已登记手机 139****5678', newText: '改为身份证 440***********1236' },
    });
    const revealed = await http('POST', `/api/v1/messages/${replyMessage.id}/reveal`, {
      cookie: admin.cookie,
    });
    expect(revealed.json()).toMatchObject({ text: `改为身份证 ${ID_CARD}` });
    const cleared = await http('PATCH', `/api/v1/messages/${replyMessage.id}`, {
      cookie: admin.cookie,
      body: { text: '已核实' },
    });
    expect(cleared.json()).toMatchObject({ text: '已核实', masked: false });
    expect(
      await t.container.db
        .selectFrom('message_originals')
        .select('message_id')
        .where('message_id', '=', replyMessage.id)
        .execute(),
    ).toEqual([]);
    expect(await holdersOf(SECRETS)).toEqual([]);
  });

  it("the data subject's export holds what they typed; erasure and deletion leave no trace of it", async () => {
    const admin = await signIn(t, 'admin');
    const v = await visitor();
    const { messageId } = await say(v, TYPED);

    const exported = await http('GET', `/api/v1/contacts/${v.contactId}/export`, { cookie: admin.cookie });
    expect(exported.statusCode).toBe(200);
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-mask-dsr-'));
    writeFileSync(path.join(dir, 'x.tar'), exported.rawPayload);
    execFileSync('tar', ['-xf', 'x.tar'], { cwd: dir });
    const doc = JSON.parse(readFileSync(path.join(dir, 'contact.json'), 'utf8')) as {
      conversations: { messages: { text: string }[] }[];
    };
    expect(doc.conversations[0]!.messages.map((m) => m.text)).toEqual([TYPED]);

    const asked = await http('POST', `/api/v1/contacts/${v.contactId}/erasure-request`, {
      cookie: admin.cookie,
    });
    const erased = await http('POST', `/api/v1/contacts/${v.contactId}/erase`, {
      cookie: admin.cookie,
      body: { confirmation: asked.json<{ confirmation: string }>().confirmation },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    // Only the audit trail still names the erased contact (by id, as the target of the erasure).
    const left = await holdersOf([messageId, v.contactId, ...SECRETS]);
    expect(left.filter((h) => h !== `audit_log holds ${v.contactId}`)).toEqual([]);

    // Deleting a conversation, or the retention job erasing it, takes the originals with it.
    const maskedConversation = async () => {
      const w = await visitor();
      return { ...w, messageId: (await say(w, TYPED)).messageId };
    };
    const kept = async (id: string) =>
      (
        await t.container.db
          .selectFrom('message_originals')
          .select('message_id')
          .where('message_id', '=', id)
          .execute()
      ).length;
    const deleted = await maskedConversation();
    expect(await kept(deleted.messageId)).toBe(1);
    const res = await http('DELETE', `/api/v1/conversations/${deleted.conversationId}`, {
      cookie: admin.cookie,
    });
    expect(res.statusCode).toBe(204);
    expect(await kept(deleted.messageId)).toBe(0);

    const old = await maskedConversation();
    await http('POST', `/api/v1/conversations/${old.conversationId}/resolve`, { cookie: admin.cookie });
    const retention = createRetentionService({
      db: t.container.db,
      auditTrail: t.container.auditTrail,
      settings: { conversationRetentionDays: 1, conversationRetentionErase: true },
      attachments: t.container.attachments,
    });
    const report = await retention.run({ erase: true }, new Date(Date.now() + 2 * 86_400_000));
    expect(report.erased).toBeGreaterThanOrEqual(1);
    expect(await kept(old.messageId)).toBe(0);
  });
});

describe('masking without leaks (issue 21, property-based over the real send path)', () => {
  it('random messages with numbers in every format: none survives in messages.body or the agent view', async () => {
    const admin = await signIn(t, 'admin');
    const v = await visitor();
    await fc.assert(
      fc.asyncProperty(message, async ({ text, numbers }) => {
        const sent = await say(v, text);
        const stored = await t.container.db
          .selectFrom('messages')
          .select('body')
          .where('id', '=', sent.messageId)
          .executeTakeFirstOrThrow();
        const history = await http('GET', `/api/v1/conversations/${v.conversationId}/messages`, {
          cookie: admin.cookie,
        });
        const shown = history
          .json<{ messages: { id: string; text: string }[] }>()
          .messages.find((m) => m.id === sent.messageId)!.text;
        for (const n of numbers) {
          for (const [where, value] of [
            ['messages.body', stored.body ?? ''],
            ['agent view', shown],
            ['send answer', sent.message.text],
          ] as const) {
            expect(
              digitsOf(value),
              `${n.kind} ${n.value} survived in ${where}: ${JSON.stringify(value)}`,
            ).not.toContain(n.value);
          }
        }
        expect(sent.message.masked).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});
