// Chats that follow new messages, in real Chromium against a real `parley serve`: the visitor's
// widget and the agent's thread open at the newest message and stay pinned to it through 30
// messages, late-loading images and a reopen; a reader who scrolled up keeps their place and gets a
// "新消息 N ↓" button that brings them down; one's own message always comes into view.
// (Issue 13, points 1 and 2; these tests failed on the code before web/shared/scroll-pin.ts.)
import { randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAPTOP, launchChromium, openPage, screenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { png } from '../support/png.ts';
import {
  consoleApi,
  createStaff,
  login,
  startWebServer,
  type ServerProcess,
} from '../support/server-process.ts';

const AGENT = { username: 'zhao.agent', displayName: '赵客服', password: 'zhao-agent-password-0123' };
/** Still "at the bottom": sub-pixel rounding only. */
const AT_BOTTOM_PX = 4;

let server: ServerProcess;
let browser: Browser | undefined;
let visitorContext: BrowserContext;
let agentContext: BrowserContext;
let visitor: Page;
let agent: Page;
let adminCookie: string;
let demoUrl: string;
let conversationId: string;
const problems: string[] = [];

const byTest = (id: string) => `[data-test="${id}"]`;
const poll = <T>(fn: () => T | Promise<T>, opts: { message?: string } = {}) =>
  expect.poll(fn, { timeout: 10_000, interval: 50, ...opts });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const api = consoleApi(
  () => server.base,
  () => adminCookie,
);

/** A reply from another agent (the admin, over the HTTP API). */
const reply = (text: string) =>
  api('POST', `/api/v1/conversations/${conversationId}/messages`, { clientId: randomUUID(), text });

async function replyWithImage(name: string) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(png(300, 220))], { type: 'image/png' }), name);
  const res = await fetch(
    `${server.base}/api/v1/conversations/${conversationId}/attachments?clientId=${randomUUID()}`,
    { method: 'POST', headers: { cookie: adminCookie, origin: server.base }, body: form },
  );
  if (res.status >= 300) throw new Error(`upload: ${res.status} ${await res.text()}`);
}

/** Attachment downloads matching `pattern` answer only after `ms`: images that load late. */
async function slowImages(context: BrowserContext, pattern: string, ms: number) {
  await context.route(pattern, async (route) => {
    await sleep(ms);
    await route.continue();
  });
}

async function chatFrame(): Promise<Frame> {
  await poll(() => visitor.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
  const frame = visitor.frames().find((f) => f.url().includes('/widget/frame'))!;
  await frame.waitForSelector('.pw-composer', { state: 'attached' });
  return frame;
}

/** How far (px) the widget's list is scrolled above its newest message. */
const widgetGap = async () =>
  (await chatFrame()).$eval('.pw-body', (b) => Math.round(b.scrollHeight - b.scrollTop - b.clientHeight));
const widgetLastBubble = async () =>
  (await chatFrame()).$$eval('.pw-bubble', (els) => els.at(-1)?.textContent ?? '');
const widgetMarker = async () =>
  (await chatFrame()).$eval('.pw-new', (b) => ((b as HTMLElement).hidden ? '' : (b.textContent ?? '')));

const thread = () => agent.locator(byTest('thread'));
const threadGap = () => thread().evaluate((b) => Math.round(b.scrollHeight - b.scrollTop - b.clientHeight));
const threadLastText = () =>
  thread()
    .locator('.bubble .text')
    .evaluateAll((els) => els.at(-1)?.textContent?.trim() ?? '');
const threadMarker = () =>
  agent
    .locator(byTest('new-messages'))
    .textContent({ timeout: 200 })
    .catch(() => '');

/** The visitor types and sends a message in the widget. */
async function visitorSays(text: string) {
  const frame = await chatFrame();
  await frame.fill('.pw-input', text);
  await frame.press('.pw-input', 'Enter');
}

beforeAll(async () => {
  const database = await createTestDatabase();
  const launched = launchChromium();
  server = await startWebServer(database.url);
  const port = server.port;
  demoUrl = `http://localhost:${port}/demo`;
  adminCookie = await login(server.base, 'admin', 'e2e-admin-password-0123');
  const site = /data-parley-site="([\w-]+)"/.exec(await (await fetch(`${server.base}/demo`)).text())![1]!;
  await api('PATCH', `/api/v1/channels/${site}/widget`, { allowedOrigins: [`http://localhost:${port}`] });
  const team = await api<{ id: string }>('POST', '/api/v1/teams', { name: '售后' });
  await createStaff(api, database.url, [{ ...AGENT, role: 'agent', teamIds: [team.id] }]);

  browser = await launched;
  ({ context: visitorContext, page: visitor } = await openPage(browser, problems, { viewport: LAPTOP }));
  ({ context: agentContext, page: agent } = await openPage(browser, problems));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

// Each test sends 30+ messages through the real server and waits for two browsers to show them:
// a minute on a loaded machine. The bound only matters when something hangs.
const SCROLL_TEST_MS = 120_000;

describe('the visitor widget follows the newest message', { timeout: SCROLL_TEST_MS }, () => {
  it('stays pinned to the bottom through 30 agent messages, one of them an image that loads late', async () => {
    await visitor.goto(demoUrl);
    await visitor.waitForFunction(() => 'Parley' in window);
    await visitor.click('#contact');
    await visitorSays('你好，请问普洱茶饼怎么保存？');
    await poll(async () => {
      const list = await api<{ conversations: { id: string }[] }>('GET', '/api/v1/conversations');
      return list.conversations.length;
    }).toBe(1);
    conversationId = (await api<{ conversations: { id: string }[] }>('GET', '/api/v1/conversations'))
      .conversations[0]!.id;
    await slowImages(visitorContext, '**/api/v1/widget/attachments/**', 1500);

    for (let i = 1; i <= 30; i++) {
      const text = `第 ${i} 条：普洱茶饼要避光、通风、防潮，远离异味。`.repeat(i % 3 === 0 ? 3 : 1);
      // A photo arrives at once, its bytes only 1.5 s later: it must not push the reply after it
      // out of view.
      if (i === 5) await replyWithImage('茶饼.png');
      await reply(text);
      await poll(widgetLastBubble).toBe(text);
      if (i === 5) {
        const frame = await chatFrame();
        await poll(() => frame.$eval('.pw-image', (img) => (img as HTMLImageElement).naturalHeight)).toBe(
          220,
        );
      }
      await poll(widgetGap, { message: `after message ${i}` }).toBeLessThanOrEqual(AT_BOTTOM_PX);
    }
    await visitorContext.unroute('**/api/v1/widget/attachments/**');
  });

  it('opens at the newest message when reopened and after a reload', async () => {
    await visitor.evaluate(() => (window as unknown as { Parley: { close(): void } }).Parley.close());
    for (let i = 1; i <= 3; i++) await reply(`关闭时收到的第 ${i} 条回复`);
    await visitor.evaluate(() => (window as unknown as { Parley: { open(): void } }).Parley.open());
    await poll(widgetLastBubble).toBe('关闭时收到的第 3 条回复');
    await poll(widgetGap).toBeLessThanOrEqual(AT_BOTTOM_PX);

    await visitor.reload();
    await visitor.waitForFunction(() => 'Parley' in window);
    await visitor.click('#contact');
    await poll(widgetLastBubble).toBe('关闭时收到的第 3 条回复');
    await poll(async () =>
      (await chatFrame()).$$eval('.pw-image', (i) => (i[0] as HTMLImageElement)?.naturalHeight),
    ).toBe(220);
    await poll(widgetGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
  });

  it('keeps a reader who scrolled up in place, shows "新消息 2 ↓", and the button goes down', async () => {
    const frame = await chatFrame();
    await frame.$eval('.pw-body', (b) => (b.scrollTop = 200));
    await poll(widgetMarker).toBe('');
    await reply('您还在吗？');
    await reply('有问题随时联系我们。');
    await poll(widgetMarker).toBe('新消息 2 ↓');
    expect(await frame.$eval('.pw-body', (b) => b.scrollTop)).toBe(200);
    await screenshot(visitor, 'widget-new-messages.png');
    await frame.click('.pw-new');
    await poll(widgetGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
    await poll(widgetMarker).toBe('');
  });

  it('brings one’s own message into view even when scrolled up', async () => {
    const frame = await chatFrame();
    await frame.$eval('.pw-body', (b) => (b.scrollTop = 0));
    await visitorSays('好的，谢谢！');
    await poll(widgetLastBubble).toBe('好的，谢谢！');
    await poll(widgetGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
  });
});

describe('the agent’s thread follows the newest message', { timeout: SCROLL_TEST_MS }, () => {
  it('opens a long conversation at the newest message and follows the visitor through 30 more, one a late image', async () => {
    await agent.goto(`${server.base}/login?redirect=${encodeURIComponent(`/inbox/${conversationId}`)}`);
    await agent.fill('input[name="username"]', AGENT.username);
    await agent.fill('input[name="password"]', AGENT.password);
    await agent.click(byTest('login-submit'));
    await agent.waitForURL(`${server.base}/inbox/${conversationId}`);
    await poll(threadLastText).toBe('好的，谢谢！');
    await poll(threadGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
    await agent.click(byTest('claim'));
    await slowImages(agentContext, '**/api/v1/attachments/**', 1500);

    for (let i = 1; i <= 30; i++) {
      if (i === 5) {
        await (
          await chatFrame()
        ).setInputFiles('.pw-file-input', {
          name: '我家的茶饼.png',
          mimeType: 'image/png',
          buffer: png(300, 220),
        });
        await thread().locator(byTest('message-image')).waitFor();
      }
      const text = `访客追问 ${i}：茶饼放冰箱可以吗？`;
      await visitorSays(text);
      await poll(threadLastText).toBe(text);
      await poll(threadGap, { message: `after message ${i}` }).toBeLessThanOrEqual(AT_BOTTOM_PX);
    }
    await poll(() =>
      thread()
        .locator(`${byTest('message-image')} img`)
        .last()
        .evaluate((img) => (img as HTMLImageElement).naturalHeight)
        .catch(() => 0),
    ).toBe(220);
    await poll(threadGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
    await agentContext.unroute('**/api/v1/attachments/**');
  });

  it('keeps a reader who scrolled up in place and shows "新消息 2 ↓"; the own reply comes into view', async () => {
    await thread().evaluate((b) => (b.scrollTop = 300));
    await visitorSays('另外，能开发票吗？');
    await visitorSays('公司抬头的。');
    await poll(threadMarker).toContain('新消息 2 ↓');
    expect(await thread().evaluate((b) => b.scrollTop)).toBe(300);
    await screenshot(agent, 'inbox-new-messages.png');
    await agent.click(byTest('new-messages'));
    await poll(threadGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
    await poll(threadMarker).toBe('');

    await thread().evaluate((b) => (b.scrollTop = 0));
    await agent.fill(byTest('composer'), '可以开具增值税普通发票。');
    await agent.press(byTest('composer'), 'Enter');
    await poll(threadLastText).toBe('可以开具增值税普通发票。');
    await poll(threadGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
  });

  it('shows the visitor’s next message and the resolve without scrolling after a transfer', async () => {
    const me = await api<{ users: { id: string; username: string }[] }>('GET', '/api/v1/users');
    const adminId = me.users.find((u) => u.username === 'admin')!.id;
    const agentId = me.users.find((u) => u.username === AGENT.username)!.id;
    await api('POST', `/api/v1/conversations/${conversationId}/transfer`, { assigneeId: adminId });
    await api('POST', `/api/v1/conversations/${conversationId}/transfer`, { assigneeId: agentId });
    await visitorSays('转接后的问题：多久发货？');
    await poll(threadLastText).toBe('转接后的问题：多久发货？');
    await poll(threadGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
    await api('POST', `/api/v1/conversations/${conversationId}/resolve`, {});
    await poll(() => thread().locator(byTest('system-event')).last().textContent()).toContain('已解决');
    await poll(threadGap).toBeLessThanOrEqual(AT_BOTTOM_PX);
    // The sign-in page asks who is signed in first (401): expected; nothing else.
    expect(problems.filter((p) => !/status of 401/.test(p))).toEqual([]);
  });
});
