// An agent's first hour, in real Chromium against a real `parley serve` (issue 13): the console
// opens on the tab where work waits and the tabs count it live; an agent's availability shows to
// a colleague in the transfer dialog within a second; the visitor's consent is one read-only line;
// the navigation is grouped and each role sees only what it may use.
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, recordProblems, screenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import {
  consoleApi,
  createStaff,
  login,
  signInConsole as signIn,
  startWebServer,
  type ServerProcess,
} from '../support/server-process.ts';
const AGENT = { username: 'sun.agent', displayName: '孙客服', password: 'sun-agent-password-0123' };
const COLLEAGUE = { username: 'zhou.agent', displayName: '周客服', password: 'zhou-agent-password-0123' };

let server: ServerProcess;
let browser: Browser | undefined;
let agentContext: BrowserContext;
let agent: Page;
let colleague: Page;
let adminCookie: string;
let databaseUrl: string;
let agentId: string;
const problems: string[] = [];

const byTest = (id: string) => `[data-test="${id}"]`;
const poll = <T>(fn: () => T | Promise<T>, timeout = 10_000) => expect.poll(fn, { timeout, interval: 50 });

const api = consoleApi(
  () => server.base,
  () => adminCookie,
);

/**
 * A visitor (over the widget API) who writes, optionally with the pre-chat consent and the page
 * they came from (as the widget reports it).
 */
async function visitorWrites(
  text: string,
  profile?: { name: string },
  sourcePage?: { url: string; title?: string },
) {
  const { token } = await api<{ token: string }>('POST', '/api/v1/widget/session', {}, {});
  const bearer = { authorization: `Bearer ${token}` };
  const { id } = await api<{ id: string }>(
    'POST',
    '/api/v1/widget/conversations',
    sourcePage ? { sourcePage } : undefined,
    bearer,
  );
  if (profile) await api('POST', '/api/v1/widget/profile', { ...profile, consent: true }, bearer);
  await api('POST', `/api/v1/widget/conversations/${id}/messages`, { clientId: randomUUID(), text }, bearer);
  return { id, token };
}

const signInConsole = (page: Page, who: { username: string; password: string }) =>
  signIn(page, server.base, who);

const tabCount = (page: Page, tab: string) =>
  page
    .locator(byTest(`tab-count-${tab}`))
    .textContent({ timeout: 500 })
    .catch(() => null);

beforeAll(async () => {
  const database = await createTestDatabase();
  databaseUrl = database.url;
  const launched = launchChromium();
  server = await startWebServer(database.url);
  adminCookie = await login(server.base, 'admin', 'e2e-admin-password-0123');
  const team = await api<{ id: string }>('POST', '/api/v1/teams', { name: '售前' });
  const ids = await createStaff(
    api,
    databaseUrl,
    [AGENT, COLLEAGUE].map((who) => ({ ...who, role: 'agent', teamIds: [team.id] })),
  );
  agentId = ids[0]!;

  browser = await launched;
  ({ context: agentContext, page: agent } = await openPage(browser, problems));
  ({ page: colleague } = await openPage(browser, problems));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('an agent’s first hour in the console', () => {
  it('opens on 待分配 when work waits there, and the tabs count it live', async () => {
    await visitorWrites('你好，想咨询一下会员卡', { name: '陈女士' });
    await signInConsole(agent, AGENT);
    // 我的 is empty; the waiting conversation is in 待分配: the console lands there.
    await poll(() => agent.locator('#tab-unassigned').getAttribute('aria-selected')).toBe('true');
    await poll(() => tabCount(agent, 'unassigned')).toBe('1');
    expect(await tabCount(agent, 'mine')).toBe('0');
    await agent.locator('li[data-test^="conversation-"]').first().waitFor();

    // A new visitor writes: the count moves without a reload.
    const second = await visitorWrites('在吗？我的订单还没发货');
    await poll(() => tabCount(agent, 'unassigned')).toBe('2');
    // The agent takes it: it leaves 待分配; the visitor writes again: it waits in 我的.
    await agent.locator(byTest(`conversation-${second.id}`)).click();
    await agent.click(byTest('claim'));
    await poll(() => tabCount(agent, 'unassigned')).toBe('1');
    await agent.goto(`${server.base}/canned-replies`);
    await api(
      'POST',
      `/api/v1/widget/conversations/${second.id}/messages`,
      { clientId: randomUUID(), text: '请尽快处理' },
      { authorization: `Bearer ${second.token}` },
    );
    await agent.goto(`${server.base}/inbox`);
    await poll(() => agent.locator('#tab-mine').getAttribute('aria-selected')).toBe('true');
    await poll(() => tabCount(agent, 'mine')).toBe('1');
    await screenshot(agent, 'inbox-tabs.png');
  });

  it('shows the consent as one read-only line, without a delete button', async () => {
    await agent.click('#tab-unassigned');
    await agent.locator('li[data-test^="conversation-"]', { hasText: '会员卡' }).click();
    const line = agent.locator(byTest('contact-consent'));
    await poll(() => line.textContent()).toMatch(/已同意隐私政策 · .+ · 版本 \d{4}-\d{2}/);
    expect(await line.locator('button').count()).toBe(0);
    expect(await agent.locator(byTest('contact-attributes')).textContent()).not.toContain(
      'dataProcessingConsent',
    );
    await screenshot(agent, 'inbox-consent.png');
  });

  it('shows an agent’s availability to a colleague in the transfer dialog within a second', async () => {
    await signInConsole(colleague, COLLEAGUE);
    await colleague.click('#tab-unassigned');
    await colleague.locator('li[data-test^="conversation-"]', { hasText: '会员卡' }).click();
    await colleague.click(byTest('transfer'));
    await colleague.click(`${byTest('transfer-to')} .el-select__wrapper`);
    const status = colleague.locator(byTest(`transfer-status-${agentId}`));
    await poll(() => status.textContent()).toBe('在线');

    await agent.click(byTest('availability'));
    await agent.click(byTest('availability-busy'));
    await poll(() => agent.locator(byTest('availability')).textContent()).toContain('忙碌');
    const changedAt = Date.now();
    await poll(() => status.textContent(), 1000).toBe('忙碌');
    expect(Date.now() - changedAt).toBeLessThan(1000);
    await screenshot(colleague, 'inbox-transfer-availability.png');

    // The console closing says offline, whatever was chosen.
    await agent.close();
    await poll(() => status.textContent()).toBe('离线');
    agent = await agentContext.newPage();
    await colleague.keyboard.press('Escape');
  });

  it('groups the navigation, and each role sees only the groups with pages it may use', async () => {
    const groupsOf = (page: Page) =>
      page
        .locator('[data-test^="nav-group-"]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-test')!.replace('nav-group-', '')));
    expect(await groupsOf(colleague)).toEqual(['workspace', 'knowledge']);
    expect(await colleague.locator(byTest('nav')).textContent()).toMatch(
      /^工作台会话知识库FAQ 知识库同义词与词典快捷回复$/,
    );

    const expected = {
      supervisor: ['workspace', 'knowledge', 'settings'],
      admin: ['workspace', 'customers', 'knowledge', 'settings'],
    };
    for (const role of ['supervisor', 'admin'] as const) {
      const who = { username: `nav.${role}`, password: `nav-${role}-password-0123` };
      await createStaff(api, databaseUrl, [{ ...who, displayName: role, role }]);
      const { context, page } = await openPage(browser!, problems, { locale: 'en' });
      await signInConsole(page, who);
      expect(await groupsOf(page), role).toEqual(expected[role]);
      if (role === 'admin') await screenshot(page, 'nav-admin.png');
      await context.close();
    }
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
  });

  it('polish for agents: 全部 stays shown, anonymous visitors are told apart, priority, recall and edit', async () => {
    const page = await agentContext.newPage();
    await recordProblems(agentContext, page, problems);
    page.setDefaultTimeout(10_000);
    agent = page;
    const cameFrom = { url: 'https://tea.example.com/longjing?from=<mail>', title: '明前龙井 <b>新茶</b>' };
    const anonymous = await visitorWrites('匿名访客的问题', undefined, cameFrom);
    await page.goto(`${server.base}/inbox/${anonymous.id}`);
    // The status filter: "全部" shows as chosen, not the "请选择" placeholder.
    await page.click(`${byTest('status-filter')} .el-select__wrapper`);
    await page.click(byTest('status-all'));
    await poll(() => page.locator(byTest('status-filter')).innerText()).toContain('全部');
    expect(await page.locator(byTest('status-filter')).innerText()).not.toContain('请选择');
    // An anonymous visitor has a short distinguishable name.
    const tag =
      anonymous.id &&
      (await api<{ contact: { id: string } }>('GET', `/api/v1/conversations/${anonymous.id}`)).contact.id
        .replace(/-/g, '')
        .slice(-4)
        .toUpperCase();
    await poll(() => page.locator('.thread-header .name').textContent()).toContain(`访客 ${tag}`);
    // The page the visitor came from, in the customer pane: its title as text, a link opening apart.
    const source = page.locator(byTest('source-page'));
    await poll(() => source.textContent()).toBe(cameFrom.title);
    expect(await source.getAttribute('href')).toBe(cameFrom.url);
    expect(await source.getAttribute('target')).toBe('_blank');
    expect(await source.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await page.locator(byTest('customer-pane')).innerText()).toContain('来源页面');
    // Priority is set from the header.
    await page.click(byTest('claim'));
    await page.click(byTest('priority'));
    await page.click(byTest('priority-urgent'));
    await poll(() => page.locator(byTest('priority')).textContent()).toContain('紧急');
    expect((await api<{ priority: string }>('GET', `/api/v1/conversations/${anonymous.id}`)).priority).toBe(
      'urgent',
    );
    // Recall and edit from the message's own line, within their window.
    await page.fill(byTest('composer'), '价格是 100 元');
    await page.press(byTest('composer'), 'Enter');
    const mineBubble = page.locator('.bubble.ours', { hasText: '价格是 100 元' });
    await mineBubble.locator(byTest('edit-message')).click();
    await page.locator('.el-message-box textarea').fill('价格是 98 元');
    await page.locator('.el-message-box .el-button--primary').click();
    const edited = page.locator('.bubble.ours', { hasText: '价格是 98 元' });
    await poll(() => edited.locator(byTest('edited')).count()).toBe(1);
    await edited.locator(byTest('recall-message')).click();
    await page.locator('.el-message-box .el-button--primary').click();
    await poll(() => page.locator('.bubble.ours', { hasText: '价格是 98 元' }).count()).toBe(0);
    await poll(() => page.locator(byTest('system-event')).last().textContent()).toContain('撤回了一条消息');
    await screenshot(page, 'inbox-polish.png');
  });

  it('polish for admins: canned-reply errors in Chinese without overlap, English plurals, the site selector follows a rename', async () => {
    const who = { username: 'polish.admin', password: 'polish-admin-password-0123' };
    await createStaff(api, databaseUrl, [{ ...who, displayName: '管理员', role: 'admin' }]);
    const { context, page } = await openPage(browser!, problems);
    await signInConsole(page, who);

    await page.goto(`${server.base}/canned-replies`);
    await page.click(byTest('create-canned'));
    await page.fill(byTest('canned-shortcut'), 'ship');
    await page.fill(byTest('canned-body'), '您好 {{agent.nme}}，已发货');
    await page.click(byTest('canned-save'));
    const error = page.locator(`${byTest('canned-dialog')} .el-form-item__error`);
    await poll(() => error.textContent()).toContain('无法识别的占位符 {{agent.nme}}');
    expect(await error.textContent()).not.toMatch(/unknown|known:/);
    // The error takes its own space: it does not overlap the placeholder buttons below.
    const [errorBox, below] = await Promise.all([
      error.boundingBox(),
      page.locator(`${byTest('canned-dialog')} .placeholders`).boundingBox(),
    ]);
    expect(errorBox!.y + errorBox!.height).toBeLessThanOrEqual(below!.y);
    await screenshot(page, 'canned-replies-error.png');
    await page.keyboard.press('Escape');

    // The website selector shows a new name at once.
    await page.goto(`${server.base}/admin/widget`);
    await page.fill(byTest('widget-name'), '青禾茶舍·官网');
    await page.click(byTest('widget-save'));
    await poll(() => page.locator(byTest('widget-site')).innerText()).toContain('青禾茶舍·官网');

    // English: "1 team", not "1 teams".
    await page.click(byTest('language-switcher'));
    await page.click(byTest('locale-en'));
    await page.goto(`${server.base}/admin/teams`);
    await poll(() => page.locator(byTest('teams-count')).textContent()).toBe('1 team');
    await context.close();
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
  });
});
