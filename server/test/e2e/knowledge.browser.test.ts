// The knowledge base pages in real headless Chromium against a real `parley serve`: an admin
// browses by category, searches, creates an entry with similar questions in the editor, disables
// entries in bulk, reads an entry's history, manages synonyms, and imports a CSV (dry-run report
// with refused rows, then a clean file). Writes build/screenshots/knowledge-list.png,
// knowledge-editor.png, knowledge-import-report.png and knowledge-terms.png.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, screenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { consoleApi, login, startWebServer, type ServerProcess } from '../support/server-process.ts';

const FIRST_PASSWORD = 'e2e-admin-password-0123';

let server: ServerProcess;
let browser: Browser | undefined;
let page: Page;
let cookie = '';
const problems: string[] = [];
const byTest = (id: string) => `[data-test="${id}"]`;
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });
/** Closes an open select's dropdown (it would cover the buttons below it). */
const closeDropdown = () => page.locator(`${byTest('kb-synonyms-dialog')} .el-dialog__title`).click();
const api = consoleApi(
  () => server.base,
  () => cookie,
);

beforeAll(async () => {
  const database = await createTestDatabase();
  const launched = launchChromium();
  server = await startWebServer(database.url);
  browser = await launched;
  ({ page } = await openPage(browser, problems, { viewport: { width: 1366, height: 820 } }));

  // The first admin's password is changed through the API; the browser signs in with the new one.
  cookie = await login(server.base, 'admin', FIRST_PASSWORD);
  const password = 'kb-admin-password-4567';
  await api('POST', '/api/v1/auth/password', {
    currentPassword: FIRST_PASSWORD,
    newPassword: password,
  }).catch(() => undefined);
  cookie = await login(server.base, 'admin', password);

  // A small knowledge base: a category tree and a few entries.
  const after = await api<{ id: string }>('POST', '/api/v1/knowledge/categories', { name: '售后' });
  const returns = await api<{ id: string }>('POST', '/api/v1/knowledge/categories', {
    name: '退货',
    parentId: after.id,
  });
  const logistics = await api<{ id: string }>('POST', '/api/v1/knowledge/categories', { name: '物流' });
  const seed: [string, string[], string, string | null][] = [
    [
      '退货地址是什么？',
      ['退货寄到哪里', '退货地址在哪'],
      '请寄到：上海市浦东新区 XX 路 1 号，收件人：售后部。',
      returns.id,
    ],
    ['多久可以退款？', ['退款要几天', '钱什么时候退回来'], '收到退货后 3 个工作日内原路退款。', returns.id],
    ['运费怎么算？', ['邮费多少', '包邮吗'], '订单满 99 元包邮，不满收 8 元。', logistics.id],
    ['多久发货？', ['什么时候发货'], '付款后 48 小时内发货。', logistics.id],
    ['营业时间', ['几点上班', '客服什么时候在'], '每天 9:00–21:00。', null],
  ];
  for (const [question, similar, answer, categoryId] of seed) {
    await api('POST', '/api/v1/knowledge/entries', { question, similar, answer, categoryId });
  }
  await api('POST', '/api/v1/knowledge/synonyms', { words: ['快递', '物流', '包裹'] });
  await api('POST', '/api/v1/knowledge/dictionary', { word: '微粒贷', kind: 'product' });

  await page.goto(`${server.base}/login`);
  await page.fill(byTest('username'), 'admin');
  await page.fill(byTest('password'), password);
  await page.click(byTest('login-submit'));
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('knowledge base console', () => {
  it('browses by category, searches, edits with similar questions, disables in bulk and shows history', async () => {
    await page.goto(`${server.base}/knowledge`);
    const rows = page.locator(`${byTest('kb-table')} .el-table__body tr`);
    await poll(() => rows.count()).toBe(5);
    // A category shows its own entries and those of its sub-categories.
    await page
      .locator(`${byTest('kb-tree')} .el-tree-node__content`, { hasText: '售后' })
      .first()
      .click();
    await poll(() => rows.count()).toBe(2);
    await page.locator(`${byTest('kb-tree')} .el-tree-node__content`, { hasText: '全部问题' }).click();
    await poll(() => rows.count()).toBe(5);
    await page.fill(byTest('kb-search'), '包邮');
    await poll(() => rows.count()).toBe(1);
    await page.fill(byTest('kb-search'), '');
    await poll(() => rows.count()).toBe(5);
    await screenshot(page, 'knowledge-list.png');

    // A new entry with similar questions, one per line.
    await page.click(byTest('kb-create'));
    const dialog = page.locator(byTest('kb-dialog'));
    await page.fill(byTest('kb-question'), '发票怎么开？');
    await page.fill(byTest('kb-similar'), '开发票\n要发票\n发票在哪里申请');
    await page.fill(byTest('kb-answer'), '在“我的订单”里点击“申请发票”，电子发票 1 个工作日内发到邮箱。');
    await screenshot(page, 'knowledge-editor.png');
    await page.click(byTest('kb-save'));
    await poll(() => dialog.isVisible()).toBe(false);
    await poll(() => rows.count()).toBe(6);
    const created = await api<{ entries: { question: string; similar: string[] }[] }>(
      'GET',
      `/api/v1/knowledge/entries?q=${encodeURIComponent('发票怎么开')}`,
    );
    expect(created.entries[0]!.similar).toEqual(['开发票', '要发票', '发票在哪里申请']);

    // A duplicate standard question is refused on the field.
    await page.click(byTest('kb-create'));
    await page.fill(byTest('kb-question'), '营业时间？');
    await page.fill(byTest('kb-answer'), '另一个答案');
    await page.click(byTest('kb-save'));
    await poll(() => dialog.locator('.el-form-item__error').first().textContent()).toContain('营业时间');
    await page.keyboard.press('Escape');
    await poll(() => dialog.isVisible()).toBe(false);

    // Bulk disable two entries.
    await page
      .locator(`${byTest('kb-table')} .el-table__body tr .el-checkbox`)
      .nth(0)
      .click();
    await page
      .locator(`${byTest('kb-table')} .el-table__body tr .el-checkbox`)
      .nth(1)
      .click();
    await page.click(byTest('kb-bulk-disable'));
    await poll(() => page.locator(`${byTest('kb-table')} .el-tag`, { hasText: '已停用' }).count()).toBe(2);

    // History: the disabled entry shows its two versions.
    await page
      .locator(`${byTest('kb-table')} .el-table__body tr`)
      .first()
      .getByText('历史')
      .click();
    const history = page.locator(byTest('kb-history'));
    await poll(() => history.locator('.el-timeline-item').count()).toBe(2);
    await poll(() => history.textContent()).toContain('停用');
    await page.keyboard.press('Escape');
  });

  it('checks an import (a per-row report, nothing saved), then imports a clean file with progress', async () => {
    const dir = path.join(tmpdir(), `parley-kb-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const bad = path.join(dir, 'faq-bad.csv');
    writeFileSync(
      bad,
      '标准问题,相似问题,答案,分类\n' +
        '怎么改地址,改收货地址|地址填错了,在订单详情里修改地址。,物流\n' +
        '怎么改地址？,,重复的问题,物流\n' +
        `答案太长,,${'长'.repeat(5001)},\n`,
    );
    await page.goto(`${server.base}/knowledge`);
    await page.click(byTest('kb-open-import'));
    await page.setInputFiles(`${byTest('kb-import-file')}`, bad);
    await page.click(byTest('kb-import-check'));
    const report = page.locator(byTest('kb-import-report'));
    await poll(() => report.textContent()).toContain('未保存任何内容');
    await poll(() => report.locator('.el-table__body tr').count()).toBe(2);
    expect(await report.textContent()).toContain('row 2');
    await screenshot(page, 'knowledge-import-report.png');
    expect(await page.locator(byTest('kb-import-run')).isDisabled()).toBe(true);

    const good = path.join(dir, 'faq-good.csv');
    writeFileSync(
      good,
      '标准问题,相似问题,答案,分类\n怎么改地址,改收货地址|地址填错了,在订单详情里修改地址。,物流\n',
    );
    await page.setInputFiles(`${byTest('kb-import-file')}`, good);
    await page.click(byTest('kb-import-check'));
    await poll(() => report.textContent()).toContain('将新建 1 条');
    await page.click(byTest('kb-import-run'));
    await poll(() => report.textContent()).toContain('导入完成');
    const list = await api<{ total: number }>(
      'GET',
      `/api/v1/knowledge/entries?q=${encodeURIComponent('改地址')}`,
    );
    expect(list.total).toBe(1);
  });

  it('manages synonym groups and dictionary words, refusing a group of one word', async () => {
    await page.goto(`${server.base}/knowledge/terms`);
    await poll(() => page.locator(byTest('kb-synonyms')).textContent()).toContain('包裹');
    await page.click(byTest('kb-add-synonyms'));
    const words = page.locator(`${byTest('kb-synonym-words')} input`);
    await words.pressSequentially('发票');
    await words.press('Enter');
    await closeDropdown();
    await page.click(byTest('kb-synonyms-save'));
    await poll(() =>
      page.locator(`${byTest('kb-synonyms-dialog')} .el-form-item__error`).textContent(),
    ).toContain('two');
    await words.pressSequentially('票据');
    await words.press('Enter');
    await closeDropdown();
    await page.click(byTest('kb-synonyms-save'));
    await poll(() => page.locator(byTest('kb-synonyms')).textContent()).toContain('票据');
    await page.fill(byTest('kb-new-word'), '花呗');
    await page.click(byTest('kb-add-word'));
    await poll(() => page.locator(byTest('kb-dictionary')).textContent()).toContain('花呗');
    await screenshot(page, 'knowledge-terms.png');
    // The refusals this test provokes (duplicate 409, one-word group 400) and the sign-in page's
    // 401 are expected; nothing else may be logged.
    expect(problems.filter((p) => !/status of (400|401|409)/.test(p))).toEqual([]);
  });
});
