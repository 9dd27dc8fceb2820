// The routing rules page in real headless Chromium against a real `parley serve` and database:
// an admin creates a rule in the edit dialog (keywords 退款 / 投诉 → 售后, high), moves a
// catch-all rule above it and back with the arrows, sets the website's default team, and asks
// the test box which rule two sample messages hit (and why the first rule did not). The widget on
// /demo reports the browser's language with the conversation it starts. Writes
// build/screenshots/admin-routing-rules.png.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, screenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { consoleApi, login, startWebServer, type ServerProcess } from '../support/server-process.ts';

const FIRST_PASSWORD = 'e2e-admin-password-0123';
const ADMIN_PASSWORD = 'admin-own-password-4567';

let server: ServerProcess;
let databaseUrl: string;
let browser: Browser | undefined;
let page: Page;
let cookie = '';
const problems: string[] = [];
const byTest = (id: string) => `[data-test="${id}"]`;
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });
const api = consoleApi(
  () => server.base,
  () => cookie,
);

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function pick(select: string, option: string) {
  await page.click(`${byTest(select)} .el-select__wrapper`);
  await page.locator('.el-select-dropdown__item:visible', { hasText: option }).click();
}

const ruleNames = async () =>
  (await page.locator(`${byTest('routing-rules')} .el-table__body tr td:nth-child(2)`).allTextContents()).map(
    (s) => s.trim(),
  );

beforeAll(async () => {
  const database = await createTestDatabase();
  databaseUrl = database.url;
  const launched = launchChromium();
  server = await startWebServer(database.url);
  browser = await launched;
  ({ page } = await openPage(browser, problems, { viewport: { width: 1280, height: 900 } }));

  await page.goto(`${server.base}/admin/routing`);
  await page.fill(byTest('username'), 'admin');
  await page.fill(byTest('password'), FIRST_PASSWORD);
  await page.click(byTest('login-submit'));
  await page.waitForURL(/\/password\?redirect=/);
  await page.fill(byTest('current-password'), FIRST_PASSWORD);
  await page.fill(byTest('new-password'), ADMIN_PASSWORD);
  await page.fill(byTest('repeat-password'), ADMIN_PASSWORD);
  await page.click(byTest('change-password-submit'));
  await page.waitForURL(`${server.base}/admin/routing`);
  cookie = await login(server.base, 'admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the routing rules page in a real browser', () => {
  it('creates a rule, orders it, sets the default team, tests two messages and takes a screenshot', async () => {
    const suffix = randomUUID().slice(0, 4);
    const aftersales = await api<{ id: string; name: string }>('POST', '/api/v1/teams', {
      name: `售后-${suffix}`,
    });
    const billing = await api<{ id: string; name: string }>('POST', '/api/v1/teams', {
      name: `财务-${suffix}`,
    });
    const { websites } = await api<{ websites: { channelId: string }[] }>('GET', '/api/v1/routing/websites');
    const site = websites[0]!.channelId;
    await api('POST', '/api/v1/routing/rules', {
      channelId: site,
      name: '兜底',
      conditions: [],
      teamId: billing.id,
      priority: 'low',
    });
    await page.reload();
    await poll(ruleNames).toEqual(['兜底']);

    // The edit dialog: name, team, priority, a keywords condition and a second one added.
    await page.click(byTest('create-rule'));
    await page.fill(byTest('rule-name'), '退款投诉');
    await pick('rule-team', aftersales.name);
    await pick('rule-priority', '高');
    await page.fill(byTest('condition-values-0'), '退款，投诉');
    // An empty second condition is refused by the server, shown under that condition.
    await page.click(byTest('add-condition'));
    await page.click(byTest('rule-save'));
    await poll(() => page.locator(`${byTest('condition-1')} .field-error`).textContent()).toContain(
      'conditions.1.values',
    );
    await page.locator(`${byTest('condition-1')} button`, { hasText: '移除' }).click();
    await page.click(byTest('rule-save'));
    await poll(ruleNames).toEqual(['兜底', '退款投诉']);
    const [stored] = await sql<{ conditions: unknown; team_id: string; priority: string }>(
      `select conditions, team_id, priority from routing_rules where name = '退款投诉'`,
    );
    expect(stored).toEqual({
      conditions: [{ type: 'keywords', values: ['退款', '投诉'] }],
      team_id: aftersales.id,
      priority: 'high',
    });

    // Up and down: the catch-all must come last to let the new rule hit.
    await page.click(byTest('rule-up-退款投诉'));
    await poll(ruleNames).toEqual(['退款投诉', '兜底']);
    await page.click(byTest('rule-up-兜底'));
    await poll(ruleNames).toEqual(['兜底', '退款投诉']);
    await page.click(byTest('rule-down-兜底'));
    await poll(ruleNames).toEqual(['退款投诉', '兜底']);
    const order = await sql<{ name: string }>(`select name from routing_rules order by position`);
    expect(order.map((r) => r.name)).toEqual(['退款投诉', '兜底']);

    await pick('routing-default-team', billing.name);
    await poll(
      async () =>
        (
          await sql<{ n: string }>(`select count(*) as n from channels where default_team_id = $1`, [
            billing.id,
          ])
        )[0]!.n,
    ).toBe('1');

    // The test box: a full-width complaint hits the first rule …
    await page.fill(byTest('test-message'), '我要 退款！');
    await page.fill(byTest('test-language'), 'zh-CN');
    await page.click(byTest('test-run'));
    await poll(() => page.locator(byTest('test-result')).textContent()).toContain('命中：退款投诉');
    expect(await page.locator(byTest('test-result')).textContent()).toContain(aftersales.name);
    // … a greeting falls through to the catch-all, with why the first one did not hit.
    await page.fill(byTest('test-message'), '你好');
    await page.click(byTest('test-run'));
    await poll(() => page.locator(byTest('test-result')).textContent()).toContain('命中：兜底');
    expect(await page.locator(byTest('test-result')).textContent()).toContain(
      'first message contains none of 退款, 投诉',
    );

    await page.mouse.move(0, 0);
    await screenshot(page, 'admin-routing-rules.png');
    // The refused save above is a 400 the browser logs; the sign-in page's probe a 401.
    expect(problems.filter((p) => !/status of (400|401)/.test(p))).toEqual([]);
  });

  it('the widget reports the browser language when it starts a conversation', async () => {
    const visitor = await browser!.newContext({ viewport: { width: 1000, height: 800 }, locale: 'en-GB' });
    const demo = await visitor.newPage();
    demo.on('pageerror', (err) => problems.push(String(err)));
    await demo.goto(`${server.base}/demo`);
    await demo.waitForFunction(() => 'Parley' in window);
    await demo.evaluate(() => (window as unknown as { Parley: { open(): void } }).Parley.open());
    await poll(() => demo.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
    const frame = demo.frames().find((f) => f.url().includes('/widget/frame'))!;
    await frame.waitForSelector('.pw-composer', { state: 'visible' });
    await frame.fill('.pw-input', 'hello, I need an invoice');
    await frame.press('.pw-input', 'Enter');
    await poll(async () =>
      (await sql<{ language: string }>(`select language from routing_visitor_context`)).map(
        (r) => r.language,
      ),
    ).toEqual(['en-GB']);
    await visitor.close();
    expect(problems.filter((p) => !/status of (400|401)/.test(p))).toEqual([]);
  });
});
