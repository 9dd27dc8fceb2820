// Personal data as a data-protection officer checks it: encrypted at rest, masked by default,
// revealed only with permission (audited), exported and erased on request (audited, no trace),
// and another team's conversations, contacts and attachments are not found.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKey } from '../../src/platform/crypto/keyring.ts';
import { createTestApp, signIn, tablesHolding, httpClient } from '../support/app.ts';

const t = await createTestApp({
  PARLEY_ENCRYPTION_KEYS: `k1:${generateKey()}`,
  PARLEY_LOOKUP_KEY: generateKey(),
});

const NAME = '张三丰';
const EMAIL = 'zhang.san@example.com';
const PHONE = '13812341234';
const ADDRESS = '广东省深圳市南山区科技园1号';
const SECRET_TEXT = '我的订单号是 ZX-778899，请帮我查一下';

const http = httpClient(t);

/** A visitor with a conversation, a message and an attachment; returns the ids. */
async function customer(name = NAME, email = EMAIL, text = SECRET_TEXT) {
  const session = await http('POST', '/api/v1/widget/session', { body: { name, email } });
  expect(session.statusCode, session.body).toBe(200);
  const { token, contactId } = session.json<{ token: string; contactId: string }>();
  const conv = await http('POST', '/api/v1/widget/conversations', { token });
  const conversationId = conv.json<{ id: string }>().id;
  const sent = await http('POST', `/api/v1/widget/conversations/${conversationId}/messages`, {
    token,
    body: { clientId: randomUUID(), text },
  });
  expect(sent.statusCode, sent.body).toBe(201);
  const data = Buffer.from('invoice for 张三丰');
  const att = await t.container.db
    .insertInto('attachments')
    .values({
      conversation_id: conversationId,
      uploader_type: 'visitor',
      file_name: '发票.txt',
      content_type: 'text/plain',
      size_bytes: data.length,
      sha256: createHash('sha256').update(data).digest(),
      data,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { token, contactId, conversationId, attachmentId: att.id };
}

async function auditOf(action: string) {
  return t.container.db
    .selectFrom('audit_log')
    .select(['actor_id', 'target_id', 'details'])
    .where('action', '=', action)
    .execute();
}

describe('contact personal data', () => {
  it('is encrypted at rest, masked by default, revealed only with pii.reveal and audited', async () => {
    const admin = await signIn(t, 'admin');
    const c = await customer();
    const patched = await http('PATCH', `/api/v1/contacts/${c.contactId}`, {
      cookie: admin.cookie,
      body: { phone: PHONE, attributes: { address: ADDRESS, plan: 'gold' } },
    });
    expect(patched.statusCode, patched.body).toBe(200);

    const raw = await t.container.db
      .selectFrom('contacts')
      .selectAll()
      .where('id', '=', c.contactId)
      .executeTakeFirstOrThrow();
    for (const v of [raw.name, raw.email, raw.phone, raw.sensitive_enc]) expect(v).toMatch(/^pe1:k1:/);
    const rawText = JSON.stringify(raw);
    for (const secret of [NAME, EMAIL, PHONE, ADDRESS, '1381234']) expect(rawText).not.toContain(secret);
    expect(raw.attributes).toEqual({ plan: 'gold' });

    const shown = await http('GET', `/api/v1/contacts/${c.contactId}`, { cookie: admin.cookie });
    expect(shown.json()).toMatchObject({
      name: '张**',
      email: 'z***@example.com',
      phone: '138****1234',
      attributes: { address: '广东省深圳市***', plan: 'gold' },
    });

    const agent = await signIn(t, 'agent');
    expect(
      (await http('GET', `/api/v1/contacts/${c.contactId}`, { cookie: agent.cookie })).json(),
    ).toMatchObject({ name: '张**' });
    expect(
      (await http('POST', `/api/v1/contacts/${c.contactId}/reveal`, { cookie: agent.cookie })).statusCode,
    ).toBe(403);
    expect(await auditOf('contact.pii_reveal')).toHaveLength(0);

    const revealed = await http('POST', `/api/v1/contacts/${c.contactId}/reveal`, { cookie: admin.cookie });
    expect(revealed.statusCode).toBe(200);
    expect(revealed.json()).toMatchObject({
      name: NAME,
      email: EMAIL,
      phone: PHONE,
      attributes: { address: ADDRESS },
    });
    const reveals = await auditOf('contact.pii_reveal');
    expect(reveals).toEqual([expect.objectContaining({ actor_id: admin.userId, target_id: c.contactId })]);
    expect(JSON.stringify(reveals)).not.toContain(PHONE);

    // Conversation views mask too; exact email / phone search still finds the conversation.
    const list = await http(
      'GET',
      `/api/v1/conversations?view=all&q=${encodeURIComponent(EMAIL.toUpperCase())}`,
      {
        cookie: admin.cookie,
      },
    );
    expect(list.statusCode, list.body).toBe(200);
    const found = list.json<{ conversations: { id: string; contact: { name: string; email: string } }[] }>()
      .conversations;
    expect(found.map((x) => x.id)).toContain(c.conversationId);
    expect(found.find((x) => x.id === c.conversationId)!.contact).toMatchObject({
      name: NAME,
      email: 'z***@example.com',
    });
    const byPhone = await http(
      'GET',
      `/api/v1/conversations?view=all&q=${encodeURIComponent('+86 138-1234-1234')}`,
      {
        cookie: admin.cookie,
      },
    );
    expect(byPhone.json<{ conversations: { id: string }[] }>().conversations.map((x) => x.id)).toContain(
      c.conversationId,
    );
  });

  it('is found by part of the name while encrypted, only by readers who may see the conversation', async () => {
    const teamA = await t.container.db
      .insertInto('teams')
      .values({ name: 'Name search A' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const c = await customer('欧阳娜娜', 'ouyang@example.com');
    const other = await customer('Anna Smith', 'anna@example.com');
    const raw = await t.container.db
      .selectFrom('contacts')
      .select('name')
      .where('id', '=', c.contactId)
      .executeTakeFirstOrThrow();
    expect(raw.name).toMatch(/^pe1:/);
    const search = async (cookie: string, q: string) => {
      const res = await http('GET', `/api/v1/conversations?view=all&q=${encodeURIComponent(q)}`, { cookie });
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ conversations: { id: string }[] }>().conversations.map((x) => x.id);
    };
    const admin = await signIn(t, 'admin');
    expect(await search(admin.cookie, '娜娜')).toContain(c.conversationId);
    expect(await search(admin.cookie, '欧阳')).toContain(c.conversationId);
    expect(await search(admin.cookie, '娜娜')).not.toContain(other.conversationId);
    expect(await search(admin.cookie, 'ANNA')).toEqual([other.conversationId]);
    expect(await search(admin.cookie, '欧阳娜娜娜')).not.toContain(c.conversationId);
    // Another team's agent does not find it (the window is the reader's own conversations).
    await t.container.db
      .updateTable('conversations')
      .set({ team_id: teamA.id })
      .where('id', '=', c.conversationId)
      .execute();
    const outsider = await signIn(t, 'agent');
    const member = await signIn(t, 'agent', { teamIds: [teamA.id] });
    expect(await search(outsider.cookie, '娜娜')).not.toContain(c.conversationId);
    expect(await search(member.cookie, '娜娜')).toContain(c.conversationId);
  });

  it('legacy plaintext rows are sealed by `keys rotate` and stay readable', async () => {
    const admin = await signIn(t, 'admin');
    const legacy = await t.container.db
      .insertInto('contacts')
      .values({ name: '李四', email: 'li.si@example.com', phone: '13900001111' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const result = await t.container.keys.rotate({});
    expect(result.failed).toBe(0);
    const raw = await t.container.db
      .selectFrom('contacts')
      .selectAll()
      .where('id', '=', legacy.id)
      .executeTakeFirstOrThrow();
    expect(raw.name).toMatch(/^pe1:/);
    expect(raw.phone).toMatch(/^pe1:/);
    const revealed = await http('POST', `/api/v1/contacts/${legacy.id}/reveal`, { cookie: admin.cookie });
    expect(revealed.json()).toMatchObject({ name: '李四', phone: '13900001111' });
  });
});

describe('data-subject requests', () => {
  it('exports everything about one contact as an archive (JSON + attachments), audited', async () => {
    const admin = await signIn(t, 'admin');
    const c = await customer('王五', 'wang.wu@example.com');
    const agent = await signIn(t, 'agent');
    expect(
      (await http('GET', `/api/v1/contacts/${c.contactId}/export`, { cookie: agent.cookie })).statusCode,
    ).toBe(403);
    const res = await http('GET', `/api/v1/contacts/${c.contactId}/export`, { cookie: admin.cookie });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-tar');
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-dsr-'));
    writeFileSync(path.join(dir, 'x.tar'), res.rawPayload);
    execFileSync('tar', ['-xf', 'x.tar'], { cwd: dir });
    const doc = JSON.parse(readFileSync(path.join(dir, 'contact.json'), 'utf8')) as {
      contact: { name: string; email: string };
      conversations: { messages: { text: string }[] }[];
      attachments: { path: string }[];
    };
    expect(doc.contact).toMatchObject({ name: '王五', email: 'wang.wu@example.com' });
    expect(doc.conversations[0]!.messages.map((m) => m.text)).toContain(SECRET_TEXT);
    expect(readFileSync(path.join(dir, doc.attachments[0]!.path), 'utf8')).toBe('invoice for 张三丰');
    expect(await auditOf('contact.export')).toEqual([
      expect.objectContaining({ actor_id: admin.userId, target_id: c.contactId }),
    ]);
  });

  it('erases a contact after a confirmation step, audited, leaving no trace in any table', async () => {
    const admin = await signIn(t, 'admin');
    const name = '赵六六';
    const email = 'zhao.liu@example.com';
    // With transcript masking on, the message's original is kept encrypted: erased too.
    const masking = await http('PATCH', '/api/v1/security/settings', {
      cookie: admin.cookie,
      body: { transcriptMasking: true },
    });
    expect(masking.statusCode, masking.body).toBe(200);
    const c = await customer(name, email, '请删除我的数据，订单 QQ-31415926，手机 13700001234');
    const message = await t.container.db
      .selectFrom('messages')
      .innerJoin('message_originals', 'message_originals.message_id', 'messages.id')
      .select(['messages.id', 'messages.body'])
      .where('messages.conversation_id', '=', c.conversationId)
      .executeTakeFirstOrThrow();
    expect(message.body).toContain('137****1234');

    const asked = await http('POST', `/api/v1/contacts/${c.contactId}/erasure-request`, {
      cookie: admin.cookie,
    });
    expect(asked.statusCode).toBe(200);
    const { confirmation, conversations, messages, attachments } = asked.json<{
      confirmation: string;
      conversations: number;
      messages: number;
      attachments: number;
    }>();
    expect({ conversations, messages, attachments }).toEqual({
      conversations: 1,
      messages: 1,
      attachments: 1,
    });
    // Nothing is erased without the confirmation, or with someone else's.
    expect(
      (
        await http('POST', `/api/v1/contacts/${c.contactId}/erase`, {
          cookie: admin.cookie,
          body: { confirmation: 'x'.repeat(20) },
        })
      ).statusCode,
    ).toBe(400);
    const other = await signIn(t, 'admin');
    expect(
      (
        await http('POST', `/api/v1/contacts/${c.contactId}/erase`, {
          cookie: other.cookie,
          body: { confirmation },
        })
      ).statusCode,
    ).toBe(400);
    expect(
      await t.container.db.selectFrom('contacts').select('id').where('id', '=', c.contactId).execute(),
    ).toHaveLength(1);

    const erased = await http('POST', `/api/v1/contacts/${c.contactId}/erase`, {
      cookie: admin.cookie,
      body: { confirmation },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toEqual({ conversations: 1, messages: 1, attachments: 1 });

    // No table holds the contact's id (except the audit trail's target ids), name, email or words.
    const needles = [
      c.contactId,
      c.conversationId,
      c.attachmentId,
      message.id,
      name,
      email,
      'QQ-31415926',
      '13700001234',
      '137****1234',
    ];
    const allowed = [`audit_log holds ${c.contactId}`, `audit_log holds ${c.conversationId}`];
    expect((await tablesHolding(t.container.db, needles)).filter((h) => !allowed.includes(h))).toEqual([]);
    const audit = await auditOf('contact.erase');
    expect(audit).toEqual([expect.objectContaining({ actor_id: admin.userId, target_id: c.contactId })]);
    expect(JSON.stringify(audit)).not.toContain(name);
  });
});

describe('team scoping (IDOR)', () => {
  it("another team's conversation, contact and attachment are not found, like ids that do not exist", async () => {
    const teamA = await t.container.db
      .insertInto('teams')
      .values({ name: 'Team A' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const teamB = await t.container.db
      .insertInto('teams')
      .values({ name: 'Team B' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const c = await customer('钱七', 'qian.qi@example.com');
    await t.container.db
      .updateTable('conversations')
      .set({ team_id: teamB.id })
      .where('id', '=', c.conversationId)
      .execute();
    const agentA = await signIn(t, 'agent', { teamIds: [teamA.id] });
    const agentB = await signIn(t, 'agent', { teamIds: [teamB.id] });
    const urls = [
      `/api/v1/conversations/${c.conversationId}`,
      `/api/v1/conversations/${c.conversationId}/messages`,
      `/api/v1/contacts/${c.contactId}`,
      `/api/v1/attachments/${c.attachmentId}`,
    ];
    for (const url of urls) {
      expect((await http('GET', url, { cookie: agentB.cookie })).statusCode, `team B: ${url}`).toBe(200);
      const res = await http('GET', url, { cookie: agentA.cookie });
      expect(res.statusCode, `team A: ${url}`).toBe(404);
      const random = await http('GET', url.replace(/[0-9a-f-]{36}/, '00000000-0000-4000-8000-000000000000'), {
        cookie: agentA.cookie,
      });
      expect(random.statusCode).toBe(404);
      expect(res.json<{ error: { code: string } }>().error.code).toBe(
        random.json<{ error: { code: string } }>().error.code,
      );
    }
    // Sending into it or erasing it is refused the same way.
    expect(
      (
        await http('POST', `/api/v1/conversations/${c.conversationId}/messages`, {
          cookie: agentA.cookie,
          body: { clientId: randomUUID(), text: 'hi' },
        })
      ).statusCode,
    ).toBe(404);
  });
});
