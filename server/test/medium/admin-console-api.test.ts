// The API behind the console's admin and data-subject pages: creating a web-widget channel
// (admins only, audited, schema-validated) and finding a contact (exact email/phone through the
// keyed-hash index, id, the customer's user id; part of a name only while names are plain
// text), then the reveal → export → two-step erasure flow the Contacts page drives, with the
// permission checks and the audit records each step leaves.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKey } from '../../src/platform/crypto/keyring.ts';
import { createTestApp, signIn, type TestApp } from '../support/app.ts';

const encrypted = await createTestApp({
  PARLEY_ENCRYPTION_KEYS: `k1:${generateKey()}`,
  PARLEY_LOOKUP_KEY: generateKey(),
  PARLEY_PUBLIC_URL: 'https://chat.example.test',
});
const plain = await createTestApp();

function http(t: TestApp, method: string, url: string, opts: { cookie?: string; body?: unknown } = {}) {
  return t.app.inject({
    method: method as 'GET',
    url,
    headers: opts.cookie ? { cookie: opts.cookie, origin: new URL(t.config.publicUrl).origin } : {},
    ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
  });
}

/** A visitor who gave name and email, with one conversation; returns the ids. */
async function customer(t: TestApp, name: string, email: string) {
  const session = await http(t, 'POST', '/api/v1/widget/session', { body: { name, email } });
  expect(session.statusCode, session.body).toBe(200);
  const { token, contactId } = session.json<{ token: string; contactId: string }>();
  const conv = await t.app.inject({
    method: 'POST',
    url: '/api/v1/widget/conversations',
    headers: { authorization: `Bearer ${token}` },
  });
  expect(conv.statusCode, conv.body).toBeLessThan(300);
  return { contactId, conversationId: conv.json<{ id: string }>().id };
}

const auditOf = (t: TestApp, action: string) =>
  t.container.db
    .selectFrom('audit_log')
    .select(['actor_id', 'actor_name', 'action', 'target_type', 'target_id', 'outcome', 'details'])
    .where('action', '=', action)
    .orderBy('seq')
    .execute();

type Found = { contacts: { id: string; name: string | null; email: string | null }[]; nameSearch: boolean };
const search = async (t: TestApp, cookie: string, q: string) => {
  const res = await http(t, 'GET', `/api/v1/contacts?q=${encodeURIComponent(q)}`, { cookie });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<Found>();
};

describe('web-widget channels', () => {
  it('lets an admin create one (audited once) that is listed and configurable at once', async () => {
    const admin = await signIn(encrypted, 'admin');
    const res = await http(encrypted, 'POST', '/api/v1/channels', {
      cookie: admin.cookie,
      body: { name: '官网商城' },
    });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json<{ siteKey: string; name: string; snippet: string; allowedOrigins: string[] }>();
    expect(created).toMatchObject({
      name: '官网商城',
      color: '#2563eb',
      preChatForm: false,
      allowedOrigins: [],
    });
    expect(created.snippet).toBe(
      `<script src="https://chat.example.test/widget.js" data-parley-site="${created.siteKey}" async></script>`,
    );
    expect(await auditOf(encrypted, 'channel.create')).toEqual([
      {
        actor_id: admin.userId,
        actor_name: admin.username,
        action: 'channel.create',
        target_type: 'channel',
        target_id: created.siteKey,
        outcome: 'success',
        details: { type: 'web_widget', name: '官网商城' },
      },
    ]);

    const list = await http(encrypted, 'GET', '/api/v1/channels', { cookie: admin.cookie });
    expect(list.json<{ channels: { id: string; type: string }[] }>().channels).toContainEqual(
      expect.objectContaining({ id: created.siteKey, type: 'web_widget' }),
    );
    const patched = await http(encrypted, 'PATCH', `/api/v1/channels/${created.siteKey}/widget`, {
      cookie: admin.cookie,
      body: { color: '#aa3355', greeting: '欢迎光临' },
    });
    expect(patched.statusCode, patched.body).toBe(200);
    const config = await http(encrypted, 'GET', `/api/v1/widget/config?site=${created.siteKey}`);
    expect(config.json()).toMatchObject({ name: '官网商城', color: '#aa3355', greeting: '欢迎光临' });
  });

  it('refuses other roles and invalid bodies (naming the field) without creating or auditing anything', async () => {
    const before = (await encrypted.container.db.selectFrom('channels').select('id').execute()).length;
    const audits = (await auditOf(encrypted, 'channel.create')).length;
    for (const role of ['supervisor', 'agent', 'auditor'] as const) {
      const user = await signIn(encrypted, role);
      const res = await http(encrypted, 'POST', '/api/v1/channels', {
        cookie: user.cookie,
        body: { name: 'x' },
      });
      expect(res.statusCode, role).toBe(403);
    }
    const admin = await signIn(encrypted, 'admin');
    for (const [body, field] of [
      [{ name: '' }, 'name'],
      [{ name: 'x'.repeat(81) }, 'name'],
      [{}, 'name'],
      [{ name: 'ok', type: 'email' }, 'type'],
      [{ name: '   ' }, 'name'],
    ] as const) {
      const res = await http(encrypted, 'POST', '/api/v1/channels', { cookie: admin.cookie, body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.field).toBe(field);
    }
    expect((await encrypted.container.db.selectFrom('channels').select('id').execute()).length).toBe(before);
    expect((await auditOf(encrypted, 'channel.create')).length).toBe(audits);
  });
});

describe('finding a contact', () => {
  it('with names encrypted: exact email and phone through the keyed hash, id, user id, name part; masked', async () => {
    const admin = await signIn(encrypted, 'admin');
    const c = await customer(encrypted, '欧阳娜娜', 'Nana.Ouyang@Example.com');
    await http(encrypted, 'PATCH', `/api/v1/contacts/${c.contactId}`, {
      cookie: admin.cookie,
      body: { phone: '+86 139 0000 7777' },
    });
    await customer(encrypted, '欧阳修', 'xiu@example.com');

    const byEmail = await search(encrypted, admin.cookie, ' nana.ouyang@example.COM ');
    expect(byEmail.nameSearch).toBe(false);
    expect(byEmail.contacts).toEqual([
      expect.objectContaining({ id: c.contactId, name: '欧***', email: 'N***@Example.com' }),
    ]);
    expect(JSON.stringify(byEmail)).not.toContain('Ouyang');
    const byPhone = await search(encrypted, admin.cookie, '13900007777');
    expect(byPhone.contacts.map((x) => x.id)).toEqual([c.contactId]);
    expect(
      (await search(encrypted, admin.cookie, c.contactId.toUpperCase())).contacts.map((x) => x.id),
    ).toEqual([c.contactId]);
    // Names are ciphertext at rest: part of a name is matched by decrypting the most recently
    // updated contacts in memory, and the answer says the name search is not complete.
    const byName = await search(encrypted, admin.cookie, '欧阳');
    expect(byName.nameSearch).toBe(false);
    expect(byName.contacts.map((x) => x.name).sort()).toEqual(['欧**', '欧***']);
    expect((await search(encrypted, admin.cookie, '阳娜')).contacts.map((x) => x.id)).toEqual([c.contactId]);
    expect((await search(encrypted, admin.cookie, 'nobody@example.com')).contacts).toEqual([]);

    await encrypted.container.db
      .updateTable('contacts')
      .set({ external_id: 'shop-user-4411' })
      .where('id', '=', c.contactId)
      .execute();
    expect((await search(encrypted, admin.cookie, 'shop-user-4411')).contacts.map((x) => x.id)).toEqual([
      c.contactId,
    ]);
  });

  it('shows agents only contacts of conversations they may see; auditors not at all', async () => {
    const admin = await signIn(encrypted, 'admin');
    const c = await customer(encrypted, '李雷', 'li.lei@example.com');
    const team = await http(encrypted, 'POST', '/api/v1/teams', {
      cookie: admin.cookie,
      body: { name: `t-${randomUUID()}` },
    });
    const teamId = team.json<{ id: string }>().id;
    await encrypted.container.db
      .updateTable('conversations')
      .set({ team_id: teamId })
      .where('id', '=', c.conversationId)
      .execute();
    const outsider = await signIn(encrypted, 'agent');
    const member = await signIn(encrypted, 'agent', { teamIds: [teamId] });
    expect((await search(encrypted, outsider.cookie, 'li.lei@example.com')).contacts).toEqual([]);
    expect((await search(encrypted, member.cookie, 'li.lei@example.com')).contacts.map((x) => x.id)).toEqual([
      c.contactId,
    ]);
    const auditor = await signIn(encrypted, 'auditor');
    expect(
      (await http(encrypted, 'GET', '/api/v1/contacts?q=li.lei%40example.com', { cookie: auditor.cookie }))
        .statusCode,
    ).toBe(403);
    expect((await http(encrypted, 'GET', '/api/v1/contacts?q=', { cookie: admin.cookie })).statusCode).toBe(
      400,
    );
  });

  it('with names in plain text: part of a name matches too (wildcards are literal)', async () => {
    const admin = await signIn(plain, 'admin');
    const a = await customer(plain, '司马光', 'guang@example.com');
    const b = await customer(plain, '司马迁', 'qian@example.com');
    await customer(plain, '100%_real', 'pct@example.com');
    const found = await search(plain, admin.cookie, '司马');
    expect(found.nameSearch).toBe(true);
    expect(found.contacts.map((x) => x.id).sort()).toEqual([a.contactId, b.contactId].sort());
    expect(found.contacts.every((x) => x.name?.endsWith('**'))).toBe(true);
    expect((await search(plain, admin.cookie, '%')).contacts.map((x) => x.name)).toEqual(['1***']);
    expect((await search(plain, admin.cookie, 'qian@example.com')).contacts.map((x) => x.id)).toEqual([
      b.contactId,
    ]);
  });
});

describe('the data-subject flow the Contacts page drives', () => {
  it('reveal, export and erase: each audited once, refused without the permission', async () => {
    const admin = await signIn(encrypted, 'admin');
    const supervisor = await signIn(encrypted, 'supervisor');
    const c = await customer(encrypted, '韩梅梅', 'meimei.han@example.com');
    const found = (await search(encrypted, admin.cookie, 'meimei.han@example.com')).contacts;
    expect(found).toEqual([expect.objectContaining({ id: c.contactId, name: '韩**' })]);

    // A supervisor may read contacts but not reveal, export or erase them.
    for (const [method, url] of [
      ['POST', `/api/v1/contacts/${c.contactId}/reveal`],
      ['GET', `/api/v1/contacts/${c.contactId}/export`],
      ['POST', `/api/v1/contacts/${c.contactId}/erasure-request`],
    ] as const) {
      expect((await http(encrypted, method, url, { cookie: supervisor.cookie })).statusCode, url).toBe(403);
    }
    expect(await auditOf(encrypted, 'contact.pii_reveal')).toEqual([]);

    const revealed = await http(encrypted, 'POST', `/api/v1/contacts/${c.contactId}/reveal`, {
      cookie: admin.cookie,
    });
    expect(revealed.json()).toMatchObject({ name: '韩梅梅', email: 'meimei.han@example.com' });
    expect(await auditOf(encrypted, 'contact.pii_reveal')).toEqual([
      expect.objectContaining({ actor_id: admin.userId, target_id: c.contactId, outcome: 'success' }),
    ]);

    const exported = await http(encrypted, 'GET', `/api/v1/contacts/${c.contactId}/export`, {
      cookie: admin.cookie,
    });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers['content-disposition']).toBe(`attachment; filename="contact-${c.contactId}.tar"`);
    expect(exported.rawPayload.subarray(257, 262).toString()).toBe('ustar');
    expect(exported.rawPayload.toString('utf8')).toContain('meimei.han@example.com');
    expect(await auditOf(encrypted, 'contact.export')).toContainEqual(
      expect.objectContaining({ actor_id: admin.userId, target_id: c.contactId }),
    );

    // Erasure: the request says what goes; a wrong confirmation erases nothing.
    const request = await http(encrypted, 'POST', `/api/v1/contacts/${c.contactId}/erasure-request`, {
      cookie: admin.cookie,
    });
    expect(request.json()).toMatchObject({ conversations: 1 });
    const wrong = await http(encrypted, 'POST', `/api/v1/contacts/${c.contactId}/erase`, {
      cookie: admin.cookie,
      body: { confirmation: 'not-the-token-at-all' },
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.field).toBe('confirmation');
    const erased = await http(encrypted, 'POST', `/api/v1/contacts/${c.contactId}/erase`, {
      cookie: admin.cookie,
      body: { confirmation: request.json<{ confirmation: string }>().confirmation },
    });
    expect(erased.statusCode, erased.body).toBe(200);
    expect(erased.json()).toMatchObject({ conversations: 1 });
    expect(
      (await auditOf(encrypted, 'contact.erase')).filter((r) => r.target_id === c.contactId),
    ).toHaveLength(1);
    expect((await search(encrypted, admin.cookie, 'meimei.han@example.com')).contacts).toEqual([]);
    expect(
      (await http(encrypted, 'GET', `/api/v1/contacts/${c.contactId}`, { cookie: admin.cookie })).statusCode,
    ).toBe(404);
  });
});
