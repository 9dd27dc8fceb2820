// The two API pieces the console inbox needs beyond the basics: a contact's other
// conversations (list filter contactId) and changing custom attributes key by key, so an agent
// who sees sensitive attributes masked never writes the masks back.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKey } from '../../src/platform/crypto/keyring.ts';
import { createTestApp, signIn, httpClient } from '../support/app.ts';

const t = await createTestApp({
  PARLEY_ENCRYPTION_KEYS: `k1:${generateKey()}`,
  PARLEY_LOOKUP_KEY: generateKey(),
  PII_SENSITIVE_ATTRIBUTES: 'address',
});

const http = httpClient(t);

async function visitorConversation(token: string, text: string): Promise<string> {
  const conv = await http('POST', '/api/v1/widget/conversations', { token });
  const id = conv.json<{ id: string }>().id;
  const sent = await http('POST', `/api/v1/widget/conversations/${id}/messages`, {
    token,
    body: { clientId: randomUUID(), text },
  });
  expect(sent.statusCode, sent.body).toBe(201);
  return id;
}

describe('the inbox API', () => {
  it("lists one contact's conversations, old and new, and no one else's", async () => {
    const agent = await signIn(t, 'agent');
    const session = await http('POST', '/api/v1/widget/session', { body: { name: '李雷' } });
    const { token, contactId } = session.json<{ token: string; contactId: string }>();
    const first = await visitorConversation(token, '第一次咨询');
    expect(
      (await http('POST', `/api/v1/conversations/${first}/resolve`, { cookie: agent.cookie })).statusCode,
    ).toBe(200);
    const second = await visitorConversation(token, '第二次咨询');
    expect(second).not.toBe(first);
    const other = await http('POST', '/api/v1/widget/session', { body: {} });
    await visitorConversation(other.json<{ token: string }>().token, '别人的咨询');

    const res = await http('GET', `/api/v1/conversations?view=all&contactId=${contactId}`, {
      cookie: agent.cookie,
    });
    expect(res.statusCode, res.body).toBe(200);
    const listed = res.json<{ conversations: { id: string; status: string; contact: { id: string } }[] }>();
    expect(listed.conversations.map((c) => [c.id, c.status])).toEqual([
      [second, 'open'],
      [first, 'resolved'],
    ]);
    const bad = await http('GET', '/api/v1/conversations?contactId=nope', { cookie: agent.cookie });
    expect(bad.statusCode).toBe(400);
  });

  it('marks conversations of a customer tagged VIP (any letter case) in the list and the view', async () => {
    const agent = await signIn(t, 'agent');
    const session = await http('POST', '/api/v1/widget/session', { body: { name: '周先生' } });
    const { token, contactId } = session.json<{ token: string; contactId: string }>();
    const id = await visitorConversation(token, '我的订单呢');
    const vipOf = async () => {
      const listed = await http('GET', `/api/v1/conversations?view=all&contactId=${contactId}`, {
        cookie: agent.cookie,
      });
      const one = await http('GET', `/api/v1/conversations/${id}`, { cookie: agent.cookie });
      return [
        listed.json<{ conversations: { contact: { vip: boolean } }[] }>().conversations[0]?.contact.vip,
        one.json<{ contact: { vip: boolean } }>().contact.vip,
      ];
    };
    expect(await vipOf()).toEqual([false, false]);
    const tagged = await http('PATCH', `/api/v1/contacts/${contactId}`, {
      cookie: agent.cookie,
      body: { tags: ['回头客', 'Vip'] },
    });
    expect(tagged.statusCode, tagged.body).toBe(200);
    expect(await vipOf()).toEqual([true, true]);
    await http('PATCH', `/api/v1/contacts/${contactId}`, {
      cookie: agent.cookie,
      body: { tags: ['VIP客户'] },
    });
    expect(await vipOf()).toEqual([false, false]); // only the tag itself, not a word containing it
  });

  it('changes attributes key by key, keeping sensitive values it only sees masked', async () => {
    const admin = await signIn(t, 'admin');
    const agent = await signIn(t, 'agent');
    const session = await http('POST', '/api/v1/widget/session', { body: { name: '韩梅梅' } });
    const { token, contactId } = session.json<{ token: string; contactId: string }>();
    await visitorConversation(token, '你好');
    const full = await http('PATCH', `/api/v1/contacts/${contactId}`, {
      cookie: admin.cookie,
      body: { attributes: { address: '北京市海淀区中关村大街1号', plan: 'gold', level: 3 } },
    });
    expect(full.statusCode, full.body).toBe(200);

    // The agent sees the address masked and changes other keys only.
    const seen = await http('GET', `/api/v1/contacts/${contactId}`, { cookie: agent.cookie });
    expect(seen.json<{ attributes: Record<string, unknown> }>().attributes.address).not.toBe(
      '北京市海淀区中关村大街1号',
    );
    const changed = await http('PATCH', `/api/v1/contacts/${contactId}`, {
      cookie: agent.cookie,
      body: { setAttributes: { plan: 'platinum', level: null, source: '小程序' } },
    });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(Object.keys(changed.json<{ attributes: object }>().attributes).sort()).toEqual([
      'address',
      'plan',
      'source',
    ]);

    const revealed = await http('POST', `/api/v1/contacts/${contactId}/reveal`, { cookie: admin.cookie });
    expect(revealed.json<{ attributes: Record<string, unknown> }>().attributes).toEqual({
      address: '北京市海淀区中关村大街1号',
      plan: 'platinum',
      source: '小程序',
    });
  });
});
