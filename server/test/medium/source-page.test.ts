// The page a widget visitor came from (issue 13): the widget sends it when it opens a
// conversation, it is validated (http/https only, length-capped), stored with the conversation,
// shown in the agent's conversation view and never in the visitor's.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SOURCE_TITLE_MAX_CHARS, SOURCE_URL_MAX_CHARS } from '../../src/realtime/text-rules.ts';
import { createTestApp, httpClient, signIn } from '../support/app.ts';

const t = await createTestApp();
const http = httpClient(t);
const admin = (await signIn(t, 'admin')).cookie;

async function visitorToken(): Promise<string> {
  const session = await http('POST', '/api/v1/widget/session', { body: {} });
  expect(session.statusCode).toBe(200);
  return session.json<{ token: string }>().token;
}

const PAGE = 'https://shop.example.com/products/42?utm_source=mail#reviews';

describe('the page a visitor came from', () => {
  it('refuses a bad or over-long value naming the field, and creates nothing', async () => {
    const token = await visitorToken();
    const bad: [unknown, string][] = [
      [{ sourcePage: { url: 'javascript:alert(1)' } }, 'sourcePage.url'],
      [{ sourcePage: { url: 'ftp://shop.example.com/' } }, 'sourcePage.url'],
      [{ sourcePage: { url: 'https://shop.example.com/a b' } }, 'sourcePage.url'],
      [
        { sourcePage: { url: `https://shop.example.com/${'中'.repeat(SOURCE_URL_MAX_CHARS)}` } },
        'sourcePage.url',
      ],
      [{ sourcePage: { url: PAGE, title: 'x'.repeat(SOURCE_TITLE_MAX_CHARS + 1) } }, 'sourcePage.title'],
      [{ sourcePage: { title: 'no url' } }, 'sourcePage.url'],
      [{ sourcePage: { url: PAGE, referrer: 'x' } }, 'sourcePage.referrer'],
      [{ sourcePage: PAGE }, 'sourcePage'],
    ];
    for (const [body, field] of bad) {
      const res = await http('POST', '/api/v1/widget/conversations', { token, body });
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json<{ error: { field: string; message: string } }>().error).toMatchObject({ field });
      expect(res.json<{ error: { message: string } }>().error.message).toContain(field);
    }
    const count = await t.container.db
      .selectFrom('conversations')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('stores it with a new conversation and shows it to agents, never to the visitor', async () => {
    const token = await visitorToken();
    // The longest accepted URL, in code points (an astral character is one).
    const longUrl = `https://shop.example.com/${'😀'.repeat(SOURCE_URL_MAX_CHARS - 25)}`;
    const opened = await http('POST', '/api/v1/widget/conversations', {
      token,
      body: { sourcePage: { url: PAGE, title: '商品 42 <b>' } },
    });
    expect(opened.statusCode).toBe(200);
    const id = opened.json<{ id: string }>().id;
    expect(opened.json()).not.toHaveProperty('sourcePage');
    expect(opened.body).not.toContain('shop.example.com');

    const row = await t.container.db
      .selectFrom('conversations')
      .select(['source_url', 'source_title'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ source_url: PAGE, source_title: '商品 42 <b>' });

    // Opening again returns the same conversation: where they came from stays the first page.
    const again = await http('POST', '/api/v1/widget/conversations', {
      token,
      body: { sourcePage: { url: longUrl } },
    });
    expect(again.json<{ id: string }>().id).toBe(id);

    const agentView = await http('GET', `/api/v1/conversations/${id}`, { cookie: admin });
    expect(agentView.statusCode).toBe(200);
    expect(agentView.json()).toMatchObject({ sourcePage: { url: PAGE, title: '商品 42 <b>' } });
    const list = await http('GET', '/api/v1/conversations?view=all', { cookie: admin });
    expect(
      list.json<{ conversations: { id: string; sourcePage: unknown }[] }>().conversations,
    ).toContainEqual(expect.objectContaining({ id, sourcePage: { url: PAGE, title: '商品 42 <b>' } }));

    const visitorList = await http('GET', '/api/v1/widget/conversations', { token });
    expect(visitorList.statusCode).toBe(200);
    expect(visitorList.body).not.toContain('shop.example.com');
    expect(visitorList.json<{ conversations: object[] }>().conversations[0]).not.toHaveProperty('sourcePage');

    // The longest URL is accepted on a new conversation (another visitor); no title is stored as null.
    const other = await visitorToken();
    const long = await http('POST', '/api/v1/widget/conversations', {
      token: other,
      body: { sourcePage: { url: longUrl } },
    });
    expect(long.statusCode).toBe(200);
    const longView = await http('GET', `/api/v1/conversations/${long.json<{ id: string }>().id}`, {
      cookie: admin,
    });
    expect(longView.json()).toMatchObject({ sourcePage: { url: longUrl } });
    expect(longView.json<{ sourcePage: object }>().sourcePage).not.toHaveProperty('title');
  });

  it('keeps working without it (earlier widgets send no body): sourcePage is null', async () => {
    const token = await visitorToken();
    const opened = await http('POST', '/api/v1/widget/conversations', { token });
    expect(opened.statusCode).toBe(200);
    const view = await http('GET', `/api/v1/conversations/${opened.json<{ id: string }>().id}`, {
      cookie: admin,
    });
    expect(view.json()).toMatchObject({ sourcePage: null });
  });

  it("is in the visitor's data-subject export: where they came from is their data too", async () => {
    const token = await visitorToken();
    const opened = await http('POST', '/api/v1/widget/conversations', {
      token,
      body: { sourcePage: { url: PAGE, title: '商品 42' } },
    });
    const id = opened.json<{ id: string }>().id;
    const contactId = (
      await t.container.db
        .selectFrom('conversations')
        .select('contact_id')
        .where('id', '=', id)
        .executeTakeFirstOrThrow()
    ).contact_id;
    const res = await http('GET', `/api/v1/contacts/${contactId}/export`, { cookie: admin });
    expect(res.statusCode).toBe(200);
    const dir = mkdtempSync(path.join(tmpdir(), 'parley-source-'));
    try {
      writeFileSync(path.join(dir, 'x.tar'), res.rawPayload);
      execFileSync('tar', ['-xf', 'x.tar'], { cwd: dir });
      const doc = JSON.parse(readFileSync(path.join(dir, 'contact.json'), 'utf8')) as {
        conversations: { id: string; sourcePage: unknown }[];
      };
      expect(doc.conversations).toEqual([
        expect.objectContaining({ id, sourcePage: { url: PAGE, title: '商品 42' } }),
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
