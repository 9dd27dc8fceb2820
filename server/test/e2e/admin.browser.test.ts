// The console's admin and data-subject pages in real headless Chromium against a real
// `parley serve` and database: an admin changes the widget's colour and greeting and the /demo
// widget shows them; an admin finds a contact, reveals it (audit record present), downloads its
// archive, and erases it after typing its code (contact gone). Writes
// build/screenshots/admin-widget.png and admin-contacts.png.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, recordProblems, screenshot as takeScreenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const consoleDist = path.join(root, 'web/console/dist');
const widgetDist = path.join(root, 'web/widget/dist');
const FIRST_PASSWORD = 'e2e-admin-password-0123';
const ADMIN_PASSWORD = 'admin-own-password-4567';
const EMAIL = 'meimei.han@example.com';

let server: ServerProcess;
let databaseUrl: string;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let contactId: string;
const problems: string[] = [];

const byTest = (id: string) => `[data-test="${id}"]`;
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const screenshot = (file: string) => takeScreenshot(page, file);

beforeAll(async () => {
  for (const dir of [consoleDist, widgetDist]) {
    if (!existsSync(dir)) throw new Error(`${dir} is missing: run "make build" (make test does it) first`);
  }
  const database = await createTestDatabase();
  databaseUrl = database.url;
  const launched = launchChromium();
  // (Keys made once, outside the function: a restart on another port keeps the same ones.)
  const encryptionKeys = `k1:${randomBytes(32).toString('base64')}`;
  const lookupKey = randomBytes(32).toString('base64');
  server = await startServer(database.url, (port) => ({
    PARLEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
    PARLEY_CONSOLE_DIR: consoleDist,
    PARLEY_WIDGET_DIR: widgetDist,
    // Contacts are encrypted at rest, so lookups go through the keyed-hash index.
    PARLEY_ENCRYPTION_KEYS: encryptionKeys,
    PARLEY_LOOKUP_KEY: lookupKey,
  }));
  browser = await launched;
  context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    locale: 'zh-CN',
    acceptDownloads: true,
  });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  await recordProblems(context, page, problems);

  // The first admin signs in and sets their own password.
  await page.goto(`${server.base}/admin/widget`);
  await page.fill(byTest('username'), 'admin');
  await page.fill(byTest('password'), FIRST_PASSWORD);
  await page.click(byTest('login-submit'));
  await page.waitForURL(/\/password\?redirect=/);
  await page.fill(byTest('current-password'), FIRST_PASSWORD);
  await page.fill(byTest('new-password'), ADMIN_PASSWORD);
  await page.fill(byTest('repeat-password'), ADMIN_PASSWORD);
  await page.click(byTest('change-password-submit'));
  await page.waitForURL(`${server.base}/admin/widget`);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the admin pages in a real browser', () => {
  it('changes the widget colour and greeting, and the /demo widget shows them', async () => {
    await page.locator(byTest('widget-snippet')).waitFor();
    const snippet = await page.locator(byTest('widget-snippet')).textContent();
    const site = /data-parley-site="([\w-]+)"/.exec(snippet ?? '')?.[1];
    expect(snippet).toBe(`<script src="${server.base}/widget.js" data-parley-site="${site}" async></script>`);

    await page.fill(`input${byTest('widget-color')}`, '#b91c1c');
    await page.fill(byTest('widget-greeting'), '欢迎光临示例商城！有什么可以帮您？');
    // A bad origin is refused by the server and shown on its field; nothing is saved.
    await page.fill(byTest('widget-origins'), 'https://shop.example.com/path');
    await page.click(byTest('widget-save'));
    const originsItem = page.locator('.el-form-item', { has: page.locator(byTest('widget-origins')) });
    await poll(() => originsItem.locator('.el-form-item__error').textContent()).toContain('allowedOrigins');
    await page.fill(byTest('widget-origins'), 'https://shop.example.com');
    await page.click(byTest('widget-save'));
    await poll(() => originsItem.locator('.el-form-item__error').count()).toBe(0);
    await poll(async () =>
      (await fetch(`${server.base}/api/v1/widget/config?site=${site}`)).json(),
    ).toMatchObject({ color: '#b91c1c', greeting: '欢迎光临示例商城！有什么可以帮您？' });

    // The copy button puts the snippet on the clipboard.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.base });
    await page.click(byTest('widget-copy-snippet'));
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(snippet);
    await screenshot('admin-widget.png');

    const demo = await context.newPage();
    await demo.goto(`${server.base}/demo`);
    await demo.waitForFunction(() => 'Parley' in window);
    await demo.click('#contact');
    await poll(() => demo.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
    const frame: Frame = demo.frames().find((f) => f.url().includes('/widget/frame'))!;
    await poll(() => frame.textContent('.pw-greeting').catch(() => null)).toBe(
      '欢迎光临示例商城！有什么可以帮您？',
    );
    expect(
      await frame.evaluate(() =>
        getComputedStyle(document.documentElement).getPropertyValue('--pw-color').trim(),
      ),
    ).toBe('#b91c1c');
    await demo.close();
  });

  it('finds a contact, reveals it (audited), downloads its archive and erases it after confirmation', async () => {
    // A customer writes in through the widget API, leaving name and email.
    const session = await fetch(`${server.base}/api/v1/widget/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: '韩梅梅', email: EMAIL }),
    });
    const { token, contactId: id } = (await session.json()) as { token: string; contactId: string };
    contactId = id;
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const conv = (await (
      await fetch(`${server.base}/api/v1/widget/conversations`, {
        method: 'POST',
        headers: { authorization: auth.authorization },
      })
    ).json()) as { id: string };
    const sent = await fetch(`${server.base}/api/v1/widget/conversations/${conv.id}/messages`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ clientId: randomUUID(), text: '请删除我的所有数据' }),
    });
    expect(sent.status, await sent.clone().text()).toBe(201);

    await page.click(byTest('nav-contacts'));
    await page.waitForURL(`${server.base}/admin/contacts`);
    await page.fill(byTest('contact-search'), EMAIL.toUpperCase());
    await page.click(byTest('contact-search-submit'));
    await poll(() => page.locator(byTest('contact-email')).textContent()).toBe('m***@example.com');
    expect(await page.locator(byTest('contact-name')).textContent()).toBe('韩**');
    expect(await page.content()).not.toContain(EMAIL);
    await screenshot('admin-contacts.png');

    // Reveal: explicit (a confirmation), and recorded in the audit trail.
    expect(await sql('select 1 from audit_log where action = $1', ['contact.pii_reveal'])).toHaveLength(0);
    await page.click(byTest('contact-reveal'));
    await page.locator('.el-message-box__btns .el-button--primary').click();
    await poll(() => page.locator(byTest('contact-email')).textContent()).toBe(EMAIL);
    expect(await page.locator(byTest('contact-name')).textContent()).toBe('韩梅梅');
    const reveals = await sql<{ actor_name: string; target_id: string; outcome: string }>(
      'select actor_name, target_id, outcome from audit_log where action = $1',
      ['contact.pii_reveal'],
    );
    expect(reveals).toEqual([{ actor_name: 'admin', target_id: contactId, outcome: 'success' }]);

    // Export: the archive arrives as a download, with everything about the contact.
    const downloading = page.waitForEvent('download');
    await page.click(byTest('contact-export'));
    const download = await downloading;
    expect(download.suggestedFilename()).toBe(`contact-${contactId}.tar`);
    const file = await download.path();
    const archive = readFileSync(file);
    expect(archive.subarray(257, 262).toString()).toBe('ustar');
    expect(archive.toString('utf8')).toContain('请删除我的所有数据');
    expect(archive.toString('utf8')).toContain(EMAIL);
    await poll(() => page.locator(byTest('export-done')).textContent()).toContain(`contact-${contactId}.tar`);
    expect(
      await sql('select 1 from audit_log where action = $1 and target_id = $2', [
        'contact.export',
        contactId,
      ]),
    ).toHaveLength(1);

    // Erase: nothing happens until the contact code is typed.
    await page.click(byTest('contact-erase'));
    await page.locator(byTest('erase-summary')).waitFor();
    expect(await page.locator(byTest('erase-summary')).textContent()).toContain('1 个会话');
    expect(await page.locator(byTest('erase-submit')).isDisabled()).toBe(true);
    await page.fill(byTest('erase-confirm-input'), 'wrong');
    expect(await page.locator(byTest('erase-submit')).isDisabled()).toBe(true);
    await page.fill(byTest('erase-confirm-input'), contactId.slice(0, 8));
    await page.click(byTest('erase-submit'));
    await poll(() => page.locator(byTest('contact-detail')).count()).toBe(0);

    expect(await sql('select 1 from contacts where id = $1', [contactId])).toHaveLength(0);
    expect(await sql('select 1 from conversations where id = $1', [conv.id])).toHaveLength(0);
    expect(
      await sql('select 1 from audit_log where action = $1 and target_id = $2', ['contact.erase', contactId]),
    ).toHaveLength(1);
    await page.click(byTest('contact-search-submit'));
    await poll(() => page.locator(`${byTest('contact-results')} .el-table__empty-text`).count()).toBe(1);
  });

  it('had no script errors or CSP violations on the way', () => {
    // The only console errors allowed are the browser's reports of the API's deliberate 400 and the 401 before sign-in.
    expect(problems.filter((p) => !/status of (400|401)/.test(p))).toEqual([]);
  });
});
