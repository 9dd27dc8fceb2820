// The agent inbox and the visitor widget together, in real headless Chromium against a real
// `parley serve` and database: a visitor on /demo sends text and an image; an agent signed in
// to the console sees the conversation appear live, claims it and answers with a canned reply
// (placeholder filled) that the visitor sees; the agent's browser goes offline with a reply
// typed meanwhile, comes back, and the reply lands exactly once while nothing the visitor sent
// is lost; HTML stays text on both sides; the agent snoozes and transfers with a note that the
// next agent sees; the next agent resolves from the keyboard. Writes build/screenshots/inbox-*.png.
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageView } from '../../src/realtime/events.ts';
import { LAPTOP, launchChromium, openPage, screenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { png } from '../support/png.ts';
import {
  consoleApi,
  createStaff,
  login,
  signInConsole as signIn,
  startWebServer,
  type ServerProcess,
} from '../support/server-process.ts';

const XSS = '<img src=x onerror=alert(1)>';
const AGENT = { username: 'li.agent', displayName: '李客服', password: 'li-agent-password-0123' };
const COLLEAGUE = { username: 'wang.agent', displayName: '王客服', password: 'wang-agent-password-0123' };

let server: ServerProcess;
let databaseUrl: string;
let browser: Browser | undefined;
let agentContext: BrowserContext;
let visitor: Page;
let agent: Page;
let adminCookie: string;
let demoUrl: string;
let conversationId: string;
const problems: string[] = [];
const dialogs: string[] = [];

const byTest = (id: string) => `[data-test="${id}"]`;
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 100 });

const api = consoleApi(
  () => server.base,
  () => adminCookie,
);

const serverMessages = async () =>
  (await api<{ messages: MessageView[] }>('GET', `/api/v1/conversations/${conversationId}/messages`))
    .messages;

async function chatFrame(): Promise<Frame> {
  await poll(() => visitor.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
  const frame = visitor.frames().find((f) => f.url().includes('/widget/frame'))!;
  await frame.waitForSelector('.pw-composer', { state: 'attached' });
  return frame;
}

const visitorBubbles = async () =>
  (await chatFrame()).$$eval('.pw-bubble', (els) => els.map((e) => e.textContent ?? ''));

/** A native dialog (alert, confirm) would be a defect of the console: recorded and dismissed. */
function watchDialogs(page: Page) {
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
}

const signInConsole = (page: Page, who: { username: string; password: string }, to = '/inbox') =>
  signIn(page, server.base, who, to);

const shot = (page: Page, file: string) => screenshot(page, file);

beforeAll(async () => {
  const database = await createTestDatabase();
  databaseUrl = database.url;
  const launched = launchChromium();
  server = await startWebServer(database.url);
  const port = server.port;
  demoUrl = `http://localhost:${port}/demo`;
  adminCookie = await login(server.base, 'admin', 'e2e-admin-password-0123');
  const site = /data-parley-site="([\w-]+)"/.exec(await (await fetch(`${server.base}/demo`)).text())![1]!;
  await api('PATCH', `/api/v1/channels/${site}/widget`, {
    name: '青禾茶舍客服',
    allowedOrigins: [`http://localhost:${port}`],
  });
  // Two agents in one team (so each may pick the other when transferring), ready to sign in.
  const team = await api<{ id: string }>('POST', '/api/v1/teams', { name: '售前' });
  await createStaff(
    api,
    databaseUrl,
    [AGENT, COLLEAGUE].map((who) => ({ ...who, role: 'agent', teamIds: [team.id] })),
  );
  await api('POST', '/api/v1/canned-replies', {
    scope: 'global',
    shortcut: 'hello',
    category: '问候',
    body: '您好，我是{{agent.name}}，很高兴为您服务！',
  });

  browser = await launched;
  ({ page: visitor } = await openPage(browser, problems, { viewport: LAPTOP }));
  ({ context: agentContext, page: agent } = await openPage(browser, problems));
  for (const p of [visitor, agent]) watchDialogs(p);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('the agent inbox with a visitor, in a real browser', () => {
  it('shows a new conversation live: the visitor’s text and image arrive without a refresh', async () => {
    await signInConsole(agent, AGENT);
    await agent.click('#tab-unassigned');
    await poll(() => agent.textContent(byTest('connection'))).toContain('已连接');
    expect(await agent.locator('li[data-test^="conversation-"]').count()).toBe(0);

    await visitor.goto(demoUrl);
    await visitor.waitForFunction(() => 'Parley' in window);
    await visitor.click('#contact');
    const frame = await chatFrame();
    await frame.fill('.pw-input', '你好，我想买半斤明前龙井');
    await frame.press('.pw-input', 'Enter');

    const first = agent.locator('li[data-test^="conversation-"]', { hasText: '你好，我想买半斤明前龙井' });
    await first.waitFor();
    conversationId = (await first.getAttribute('data-test'))!.replace('conversation-', '');
    const item = agent.locator(byTest(`conversation-${conversationId}`));
    // Unread and waiting while nobody answered.
    await poll(() => item.locator(byTest('unread-badge')).textContent()).toContain('1');
    await poll(() => agent.title()).toBe('(1) 会话 · Parley');

    await frame.setInputFiles('.pw-file-input', {
      name: '茶叶.png',
      mimeType: 'image/png',
      buffer: png(240, 150),
    });
    await poll(async () => (await serverMessages()).map((m) => m.kind)).toEqual(['text', 'image']);

    await item.click();
    await agent.waitForURL(`${server.base}/inbox/${conversationId}`);
    const thread = agent.locator(byTest('thread'));
    await thread.locator(byTest('message-1')).waitFor();
    await poll(() =>
      thread
        .locator(`${byTest('message-image')} img`)
        .evaluate((img) => (img as HTMLImageElement).naturalWidth)
        .catch(() => 0),
    ).toBe(240);
    // The open conversation shows no unread badge, and the title no count.
    await poll(() => agent.title()).toBe('会话 · Parley');
    expect(
      await agent.locator(`${byTest(`conversation-${conversationId}`)} ${byTest('unread-badge')}`).count(),
    ).toBe(0);
  });

  it('claims and answers with a canned reply whose placeholder is filled; the visitor sees it', async () => {
    await agent.click(byTest('claim'));
    await poll(() => agent.textContent(byTest('thread-status'))).toContain('李客服');
    await agent.fill(byTest('composer'), '/hel');
    await agent.locator(byTest('canned-menu')).waitFor();
    await agent.press(byTest('composer'), 'Enter');
    expect(await agent.inputValue(byTest('composer'))).toBe('您好，我是李客服，很高兴为您服务！');
    await agent.press(byTest('composer'), 'Enter');
    await poll(() => agent.locator(byTest('pending-message')).count()).toBe(0);
    expect(await agent.locator('.bubble', { hasText: '您好，我是李客服' }).count()).toBe(1);
    await poll(() => visitorBubbles()).toContain('您好，我是李客服，很高兴为您服务！');

    // Read state: the visitor has the chat open, so the reply turns "read".
    await poll(() =>
      agent
        .locator(`.bubble.ours ${byTest('delivery')}`)
        .last()
        .textContent(),
    ).toContain('已读');
  });

  it('renders <img onerror> as inert text on both sides', async () => {
    const frame = await chatFrame();
    await frame.fill('.pw-input', XSS);
    await frame.press('.pw-input', 'Enter');
    await agent.locator('.bubble.theirs', { hasText: XSS }).waitFor();
    await agent.fill(byTest('composer'), XSS);
    await agent.press(byTest('composer'), 'Enter');
    await poll(async () => (await visitorBubbles()).filter((b) => b === XSS).length).toBe(2);
    await poll(() => agent.locator('.bubble', { hasText: XSS }).count()).toBe(2);
    // The only images are the uploaded one (once on each side).
    expect(await agent.locator(`${byTest('thread')} img`).count()).toBe(1);
    expect(await frame.$$eval('.pw-list img', (imgs) => imgs.length)).toBe(1);
    expect(dialogs).toEqual([]);
  });

  it('goes offline and back: the reply typed offline lands exactly once, nothing the visitor sent is lost', async () => {
    const before = (await serverMessages()).length;
    await agentContext.setOffline(true);
    await poll(() => agent.textContent(byTest('connection'))).toContain('离线');
    await agent.fill(byTest('composer'), '断网时写的回复');
    await agent.press(byTest('composer'), 'Enter');
    await poll(() => agent.locator(byTest('pending-message')).getAttribute('data-state')).toBe('queued');
    // A file picked offline waits too.
    await agent.setInputFiles(byTest('file-input'), {
      name: '发货单.png',
      mimeType: 'image/png',
      buffer: png(120, 80),
    });
    await poll(() =>
      agent
        .locator(byTest('pending-message'))
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))),
    ).toEqual(['queued', 'queued']);
    // Meanwhile the visitor writes.
    const frame = await chatFrame();
    await frame.fill('.pw-input', '请问今天能发货吗？');
    await frame.press('.pw-input', 'Enter');
    await poll(async () => (await serverMessages()).some((m) => m.text === '请问今天能发货吗？')).toBe(true);
    expect((await serverMessages()).some((m) => m.text === '断网时写的回复')).toBe(false);

    await agentContext.setOffline(false);
    await poll(() => agent.textContent(byTest('connection'))).toContain('已连接');
    await poll(() => agent.locator(byTest('pending-message')).count()).toBe(0);
    await poll(() => agent.locator('.bubble', { hasText: '请问今天能发货吗？' }).count()).toBe(1);
    expect(await agent.locator('.bubble', { hasText: '断网时写的回复' }).count()).toBe(1);
    const stored = await serverMessages();
    expect(stored.filter((m) => m.text === '断网时写的回复')).toHaveLength(1);
    expect(stored.filter((m) => m.attachment?.fileName === '发货单.png')).toHaveLength(1);
    expect(stored).toHaveLength(before + 3);
    // Sent in the order typed: the text, then the file.
    expect(stored.slice(-2).map((m) => m.kind)).toEqual(['text', 'image']);
    await poll(() => agent.locator(byTest('message-image')).count()).toBe(2);
    // The thread shows every message once, in seq order.
    const seqs = await agent
      .locator('[data-seq]')
      .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
    expect(seqs).toEqual(stored.filter((m) => m.kind !== 'system').map((m) => m.seq));
    await poll(async () => (await visitorBubbles()).filter((b) => b === '断网时写的回复').length).toBe(1);
    await poll(() => frame.$$eval('.pw-image', (imgs) => imgs.length)).toBe(2);
    // Still no unread badge on the open conversation after the visitor's message.
    expect(
      await agent.locator(`${byTest(`conversation-${conversationId}`)} ${byTest('unread-badge')}`).count(),
    ).toBe(0);
  });

  it('shows the customer with masked details, no reveal for an agent, and tags to add', async () => {
    const pane = agent.locator(byTest('customer-pane'));
    await pane.waitFor();
    expect(await pane.locator(byTest('reveal')).count()).toBe(0);
    await pane.locator(byTest('add-tag')).click();
    await pane.locator(byTest('tag-input')).fill('老客户');
    await pane.locator(byTest('tag-input')).press('Enter');
    await poll(() => pane.locator(byTest('contact-tags')).textContent()).toContain('老客户');
    const conv = await api<{ contact: { id: string } }>('GET', `/api/v1/conversations/${conversationId}`);
    expect((await api<{ tags: string[] }>('GET', `/api/v1/contacts/${conv.contact.id}`)).tags).toEqual([
      '老客户',
    ]);
    await agent.click('#tab-mine'); // claimed: the conversation is the agent's now
    await agent.locator(byTest(`conversation-${conversationId}`)).waitFor();
    await agent.fill(byTest('composer'), '马上为您安排，');
    await shot(agent, 'inbox-live.png');
    await agent.fill(byTest('composer'), '');
  });

  it('snoozes until tomorrow morning, then transfers with a note the next agent sees', async () => {
    await agent.click(byTest('snooze'));
    await agent.click(byTest('snooze-tomorrow'));
    await poll(() => agent.textContent(byTest('thread-status'))).toContain('稍后处理');
    const snoozed = await api<{ status: string; snoozedUntil: string }>(
      'GET',
      `/api/v1/conversations/${conversationId}`,
    );
    expect(snoozed.status).toBe('snoozed');
    expect(new Date(snoozed.snoozedUntil).getHours()).toBe(9);

    await agent.click(byTest('transfer'));
    await agent.click(byTest('transfer-to'));
    await agent.locator('.el-select-dropdown__item', { hasText: COLLEAGUE.displayName }).click();
    await agent.fill(byTest('transfer-note'), '客户要半斤明前龙井，今天发顺丰');
    await agent.click(byTest('transfer-confirm'));
    await poll(() => agent.textContent(byTest('thread-status'))).toContain(COLLEAGUE.displayName);

    const { page: colleague } = await openPage(browser!, problems);
    watchDialogs(colleague);
    // The transferred conversation is the colleague's now (snoozed, so opened by its link).
    await signInConsole(colleague, COLLEAGUE, `/inbox/${conversationId}`);
    const note = colleague.locator('.bubble.note', { hasText: '客户要半斤明前龙井，今天发顺丰' });
    await note.waitFor();
    expect(await note.textContent()).toContain('内部备注');
    // The visitor never sees the note.
    expect((await visitorBubbles()).some((b) => b.includes('今天发顺丰'))).toBe(false);

    // Keyboard: `?` shows the help; `e` resolves (not while typing).
    await colleague.locator(byTest('thread')).click();
    await colleague.keyboard.press('?');
    await colleague.locator(byTest('shortcut-help')).waitFor();
    await shot(colleague, 'inbox-shortcuts.png');
    await colleague.keyboard.press('Escape');
    await colleague.locator(byTest('shortcut-help')).waitFor({ state: 'hidden' });
    await colleague.fill(byTest('composer'), 'e');
    expect((await api<{ status: string }>('GET', `/api/v1/conversations/${conversationId}`)).status).toBe(
      'snoozed',
    );
    await colleague.fill(byTest('composer'), '');
    await colleague.locator(byTest('thread')).click();
    await colleague.keyboard.press('e');
    await poll(
      async () => (await api<{ status: string }>('GET', `/api/v1/conversations/${conversationId}`)).status,
    ).toBe('resolved');
    await colleague.locator(byTest('reopen')).waitFor();
    await shot(colleague, 'inbox-transferred.png');
    // The first agent's inbox follows live.
    await poll(() => agent.textContent(byTest('thread-status'))).toContain('已解决');
    await colleague.context().close();
  }, 90_000);

  it('had no CSP violations or script errors', () => {
    expect(
      // (401: the sign-in page asks who is signed in before anyone is; offline: the cut network)
      problems.filter((p) => !/status of 401|ERR_INTERNET_DISCONNECTED|WebSocket|Failed to fetch/.test(p)),
    ).toEqual([]);
  });
});
