// The visitor widget in real headless Chromium against a real `parley serve` and database.
// The demo page is opened on http://localhost:PORT while Parley's public URL is
// http://127.0.0.1:PORT, so the chat frame is truly cross-origin to the page embedding it
// (and only framed because an admin allowed that origin). A visitor sends text and an image,
// the agent (HTTP API and agent WebSocket) sees them and replies, the reply shows in the
// widget, the conversation survives reloads and navigations, a message typed while offline is
// sent once on reconnect, and HTML in messages stays text. Writes build/screenshots/widget.png.
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Frame, Page, WebSocket } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationView, MessageView, ServerEvent } from '../../src/realtime/events.ts';
import { launchChromium, screenshot } from '../support/browser.ts';
import { createTestDatabase } from '../support/db.ts';
import { png } from '../support/png.ts';
import { TestSocket } from '../support/realtime.ts';
import { login, startServer, type ServerProcess, consoleApi } from '../support/server-process.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const widgetDist = path.join(root, 'web/widget/dist');
const XSS = '<img src=x onerror=alert(1)>';
const PNG = png(240, 150);

let server: ServerProcess;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let cookie: string;
let agentSocket: TestSocket | undefined;
let demoUrl: string;
let conversationId: string;
let site: string;
const problems: string[] = [];
const dialogs: string[] = [];

const api = consoleApi(
  () => server.base,
  () => cookie,
);

async function serverMessages(): Promise<MessageView[]> {
  return (await api<{ messages: MessageView[] }>('GET', `/api/v1/conversations/${conversationId}/messages`))
    .messages;
}

/** The chat frame (inside the loader's closed shadow root: found as a frame, not by selector). */
async function chatFrame(): Promise<Frame> {
  await poll(() => page.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
  const frame = page.frames().find((f) => f.url().includes('/widget/frame'))!;
  await frame.waitForSelector('.pw-composer', { state: 'attached' });
  return frame;
}

/** The demo page in a new browser context (a new visitor), its chat opened: the chat frame. */
async function chatInNewVisitor() {
  const fresh = await browser!.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const p = await fresh.newPage();
  p.on('pageerror', (err) => problems.push(String(err)));
  await p.goto(demoUrl);
  await p.waitForFunction(() => 'Parley' in window);
  await p.evaluate(() => (window as unknown as { Parley: { open(): void } }).Parley.open());
  await poll(() => p.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
  const frame = p.frames().find((f) => f.url().includes('/widget/frame'))!;
  return { fresh, p, frame };
}

const openChat = () => page.evaluate(() => (window as unknown as { Parley: { open(): void } }).Parley.open());

/** Unread counts the chat frame reports to the page (what the launcher's badge shows). */
const reportedUnread = () =>
  page.evaluate(() => (window as unknown as { unreadSeen?: number[] }).unreadSeen ?? []);

/** Waits for a condition in the browser (generous: the machine is shared). */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 10_000, interval: 50 });

/** A frame the widget sent, as recorded from the browser. */
type ClientFrameOfAny = { type: string } & Record<string, unknown>;

const bubbles = (frame: Frame) => frame.$$eval('.pw-bubble', (els) => els.map((e) => e.textContent ?? ''));

beforeAll(async () => {
  if (!existsSync(path.join(widgetDist, 'frame.html'))) {
    throw new Error('web/widget/dist is missing: run "make build" (make test does it) first');
  }
  const database = await createTestDatabase();
  const launched = launchChromium();
  // Parley's public URL is on 127.0.0.1; the demo page is opened on localhost (another origin).
  server = await startServer(database.url, (port) => ({
    PARLEY_WIDGET_DIR: widgetDist,
    PARLEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
  }));
  demoUrl = `http://localhost:${server.port}/demo`;
  cookie = await login(server.base, 'admin', 'e2e-admin-password-0123');
  site = /data-parley-site="([\w-]+)"/.exec(await (await fetch(`${server.base}/demo`)).text())![1]!;
  await api('PATCH', `/api/v1/channels/${site}/widget`, {
    name: '青禾茶舍客服',
    color: '#2f5d3a',
    greeting: '您好，欢迎来到青禾茶舍！有什么可以帮您？',
    allowedOrigins: [`http://localhost:${server.port}`],
  });
  agentSocket = await TestSocket.open(`${server.wsBase}/api/v1/ws`, { cookie });
  agentSocket.send({ type: 'hello' });
  await agentSocket.waitFor((f) => f.type === 'ready');

  browser = await launched;
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  page = await context.newPage();
  page.setDefaultTimeout(5000);
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(msg.text());
  });
  page.on('pageerror', (err) => problems.push(String(err)));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
});

afterAll(async () => {
  if (agentSocket?.isOpen) await agentSocket.close();
  await browser?.close();
  await server?.stop();
});

describe('the visitor widget in a real browser', () => {
  it('opens from the demo page in a cross-origin frame and sends text and an image to the agent', async () => {
    await page.goto(demoUrl);
    await page.waitForFunction(() => 'Parley' in window);
    await page.click('#contact'); // the demo site's own button: window.Parley.open()
    const frame = await chatFrame();
    expect(new URL(frame.url()).origin).toBe(server.base);
    expect(await frame.textContent('.pw-title')).toBe('青禾茶舍客服');
    expect(await frame.textContent('.pw-greeting')).toBe('您好，欢迎来到青禾茶舍！有什么可以帮您？');
    // The page cannot reach into the chat: different origin. The frame sits in the loader's
    // closed shadow root, so the page's scripts cannot find it by selector; the browser hands
    // its element to the page's world, which then tries to read the chat's document.
    const frameElement = await frame.frameElement();
    const reach = await page.evaluate((el) => {
      const w = (el as HTMLIFrameElement).contentWindow;
      if (!w) return 'no window';
      try {
        return `read the chat's document: ${w.document.title}`;
      } catch (e) {
        return (e as Error).name;
      }
    }, frameElement);
    expect(reach).toBe('SecurityError');

    await frame.fill('.pw-input', '你好，我想问一下龙井的发货时间');
    await frame.press('.pw-input', 'Enter');
    await poll(() => frame.$$eval('.pw-delivery', (els) => els.map((e) => e.textContent))).toEqual([
      '已送达',
    ]);

    // The agent sees it live on the agent socket, and in the HTTP API.
    const live = (await agentSocket!.waitFor(
      (f) => f.type === 'message' && f.message.text === '你好，我想问一下龙井的发货时间',
    )) as Extract<ServerEvent, { type: 'message' }>;
    conversationId = live.message.conversationId;
    expect(live.message.senderType).toBe('visitor');
    // The agent sees the page the visitor came from: the loader reported the demo page's URL and
    // title to the frame, which sent them when it opened the conversation.
    const title = await page.title();
    expect(title).not.toBe('');
    const view = await api<ConversationView>('GET', `/api/v1/conversations/${conversationId}`);
    expect(view.sourcePage).toEqual({ url: demoUrl, title });

    await frame.setInputFiles('.pw-file-input', { name: 'tea<b>.png', mimeType: 'image/png', buffer: PNG });
    await poll(async () =>
      (await serverMessages()).map((m) => [m.kind, m.attachment?.fileName ?? m.text]),
    ).toEqual([
      ['text', '你好，我想问一下龙井的发货时间'],
      ['image', 'tea<b>.png'],
    ]);
    // The image shows in the widget, loaded with the visitor token (blob URL).
    await poll(() =>
      frame.$eval('.pw-image', (img) => (img as HTMLImageElement).naturalWidth).catch(() => 0),
    ).toBe(240);
  });

  it('shows the agent typing, then the agent’s reply, and the read state of the visitor’s messages', async () => {
    const frame = await chatFrame();
    agentSocket!.send({ type: 'typing', conversationId, typing: true });
    await frame.waitForSelector('.pw-typing', { state: 'visible' });
    expect(await frame.textContent('.pw-typing')).toBe('客服正在输入…');

    await api('POST', `/api/v1/conversations/${conversationId}/messages`, {
      clientId: 'agent-reply-0001',
      text: '您好！今天下单，明天顺丰发出。详情见 https://example.com/shipping',
    });
    await poll(() => bubbles(frame)).toContain(
      '您好！今天下单，明天顺丰发出。详情见 https://example.com/shipping',
    );
    expect(await frame.getAttribute('.pw-theirs .pw-bubble a', 'rel')).toBe('noopener noreferrer');
    await frame.waitForSelector('.pw-typing', { state: 'hidden' });

    const last = (await serverMessages()).at(-1)!.seq;
    await api('POST', `/api/v1/conversations/${conversationId}/read`, { seq: last });
    await poll(() => frame.$$eval('.pw-mine .pw-delivery', (els) => els.map((e) => e.textContent))).toEqual([
      '已读',
      '已读',
    ]);
    await screenshot(page, 'widget.png');
  });

  it('renders <img onerror> messages from either side as inert text', async () => {
    const frame = await chatFrame();
    await frame.fill('.pw-input', XSS);
    await frame.press('.pw-input', 'Enter');
    await api('POST', `/api/v1/conversations/${conversationId}/messages`, {
      clientId: 'agent-xss-00001',
      text: XSS,
    });
    await poll(async () => (await bubbles(frame)).filter((b) => b === XSS).length).toBe(2);
    // The only image in the list is the uploaded one.
    expect(await frame.$$eval('.pw-list img', (imgs) => imgs.length)).toBe(1);
    expect(dialogs).toEqual([]);
    await poll(async () => (await serverMessages()).filter((m) => m.text === XSS).length).toBe(2);
  });

  it('keeps the conversation across a reload and a navigation, without doubles', async () => {
    await page.reload();
    let frame = await chatFrame();
    await openChat();
    await poll(async () => (await bubbles(frame)).length).toBe(5);
    await page.click('text=茶品');
    await page.waitForURL(/page=teas/);
    frame = await chatFrame();
    await poll(async () => (await bubbles(frame)).filter((b) => b.includes('龙井的发货时间')).length).toBe(1);
    expect((await serverMessages()).map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('reports the unread count to the launcher while the chat is closed, and clears it on open', async () => {
    await page.reload();
    // Listen the way the loader does: messages from the frame's origin only.
    await page.evaluate((parley) => {
      const w = window as unknown as { unreadSeen: number[] };
      w.unreadSeen = [];
      window.addEventListener('message', (e: MessageEvent) => {
        const d = e.data as { parley?: string; type?: string; count?: number };
        if (e.origin === parley && d?.parley === 'widget' && d.type === 'unread')
          w.unreadSeen.push(d.count ?? -1);
      });
    }, server.base);
    const frame = await chatFrame();
    await api('POST', `/api/v1/conversations/${conversationId}/messages`, {
      clientId: 'agent-unread-001',
      text: '还有其他问题吗？',
    });
    await poll(async () => (await reportedUnread()).at(-1)).toBe(1);
    await screenshot(page, 'widget-launcher.png', { x: 1180, y: 700, width: 100, height: 100 });
    await openChat();
    await poll(async () => (await reportedUnread()).at(-1)).toBe(0);
    expect(await bubbles(frame)).toContain('还有其他问题吗？');
  });

  it('queues a message typed while offline and sends it once when the network is back', async () => {
    const frame = await chatFrame();
    await openChat();
    await context.setOffline(true);
    await frame.waitForSelector('.pw-status', { state: 'visible' });
    await frame.fill('.pw-input', '断网时写的消息');
    await frame.press('.pw-input', 'Enter');
    await poll(() => frame.$$eval('.pw-delivery', (els) => els.map((e) => e.textContent).at(-1))).toBe(
      '发送中',
    );
    expect((await serverMessages()).some((m) => m.text === '断网时写的消息')).toBe(false);

    await context.setOffline(false);
    await poll(() => frame.$$eval('.pw-delivery', (els) => els.map((e) => e.textContent).at(-1))).toBe(
      '已送达',
    );
    expect((await serverMessages()).filter((m) => m.text === '断网时写的消息')).toHaveLength(1);
    await page.reload();
    const again = await chatFrame();
    await openChat();
    await poll(async () => (await bubbles(again)).filter((b) => b === '断网时写的消息').length).toBe(1);
    expect((await serverMessages()).filter((m) => m.text === '断网时写的消息')).toHaveLength(1);
  });

  it('asks once for the hole a private note leaves, and resumes from past it (contiguous lastSeq)', async () => {
    const sent: ClientFrameOfAny[] = [];
    const record = (ws: WebSocket) =>
      ws.on('framesent', (f) => void sent.push(JSON.parse(String(f.payload)) as ClientFrameOfAny));
    page.on('websocket', record);
    try {
      await page.reload();
      const frame = await chatFrame();
      await openChat();
      await poll(() => sent.some((f) => f.type === 'hello')).toBe(true);
      const note = await api<{ seq: number }>('POST', `/api/v1/conversations/${conversationId}/messages`, {
        clientId: 'agent-note-gap-01',
        text: '内部备注：已退款',
        private: true,
      });
      await api('POST', `/api/v1/conversations/${conversationId}/messages`, {
        clientId: 'agent-after-note-01',
        text: '退款已处理',
      });
      await poll(async () => (await bubbles(frame)).some((b) => b.includes('退款已处理'))).toBe(true);
      // Seq note.seq never reaches the visitor: after a second the widget asks from below it.
      const resumes = () => sent.filter((f) => f.type === 'resume');
      await poll(() => resumes().length).toBe(1);
      expect(resumes()[0]).toMatchObject({ conversations: [{ conversationId, lastSeq: note.seq - 1 }] });
      // The replay says the hole was a private note: the next message leaves no hole to ask for.
      await api('POST', `/api/v1/conversations/${conversationId}/messages`, {
        clientId: 'agent-after-note-02',
        text: '还有别的问题吗？',
      });
      await poll(async () => (await bubbles(frame)).some((b) => b.includes('还有别的问题吗？'))).toBe(true);
      await new Promise((r) => setTimeout(r, 1500));
      expect(resumes()).toHaveLength(1);
      expect((await bubbles(frame)).join('\n')).not.toContain('内部备注');
      // A reconnect (same page: the widget keeps its messages in memory) resumes from past the note.
      await context.setOffline(true);
      await frame.waitForSelector('.pw-status', { state: 'visible' });
      await context.setOffline(false);
      await poll(() => sent.filter((f) => f.type === 'hello').length).toBe(2);
      const hello = sent.filter((f) => f.type === 'hello').at(-1)!;
      expect((hello.resume as { lastSeq: number }[])[0]!.lastSeq).toBeGreaterThan(note.seq);
    } finally {
      page.off('websocket', record);
    }
  });

  it('works on a phone screen', async () => {
    const phone = await browser!.newContext({
      viewport: { width: 390, height: 844 },
      locale: 'zh-CN',
      isMobile: true,
      hasTouch: true,
    });
    const p = await phone.newPage();
    await p.goto(demoUrl);
    await p.waitForFunction(() => 'Parley' in window);
    await p.evaluate(() => (window as unknown as { Parley: { open(): void } }).Parley.open());
    const frame = await (async () => {
      await poll(() => p.frames().some((f) => f.url().includes('/widget/frame'))).toBe(true);
      return p.frames().find((f) => f.url().includes('/widget/frame'))!;
    })();
    await frame.waitForSelector('.pw-composer', { state: 'attached' });
    const box = await (await frame.frameElement()).boundingBox();
    expect(box).toMatchObject({ x: 0, width: 390, height: 844 });
    await frame.fill('.pw-input', '手机上发的消息');
    await frame.press('.pw-input', 'Enter');
    await poll(() => frame.$$eval('.pw-delivery', (els) => els.map((e) => e.textContent))).toEqual([
      '已送达',
    ]);
    await screenshot(p, 'widget-phone.png');
    await phone.close();
  });

  it('asks for name and phone with explicit consent when the pre-chat form is on, and verifies setUser', async () => {
    await api('PATCH', `/api/v1/channels/${site}/widget`, { preChatForm: true });
    const secret = (
      await api<{ channels: { id: string; identitySecret: string }[] }>('GET', '/api/v1/channels')
    ).channels.find((c) => c.id === site)!.identitySecret;
    const { fresh, p, frame } = await chatInNewVisitor();
    await frame.waitForSelector('.pw-prechat', { state: 'visible' });
    expect(await frame.isVisible('.pw-composer')).toBe(false);
    await frame.fill('.pw-prechat [name=name]', '王小明');
    await frame.fill('.pw-prechat [name=phone]', '13800000000');
    await frame.click('.pw-prechat [type=submit]');
    await poll(() => frame.textContent('.pw-form-error')).toBe('请勾选同意后再继续');
    await frame.check('.pw-prechat [name=consent]');
    await frame.click('.pw-prechat [type=submit]');
    await frame.waitForSelector('.pw-composer', { state: 'visible' });

    const hash = createHmac('sha256', secret).update('shop-user-42').digest('hex');
    await p.evaluate(
      (h) =>
        (window as unknown as { Parley: { setUser(u: object): void } }).Parley.setUser({
          id: 'shop-user-42',
          hash: h,
          name: '王小明',
        }),
      hash,
    );
    const from = agentSocket!.frames.length;
    await frame.fill('.pw-input', '我是老客户');
    await frame.press('.pw-input', 'Enter');
    const live = (await agentSocket!.waitFor((f) => f.type === 'message' && f.message.text === '我是老客户', {
      from,
    })) as Extract<ServerEvent, { type: 'message' }>;
    type Conv = { contact: { id: string; name: string | null; verified: boolean } };
    const conversation = () => api<Conv>('GET', `/api/v1/conversations/${live.message.conversationId}`);
    // The anonymous visitor became the verified customer (same contact, same conversation).
    await poll(async () => (await conversation()).contact.verified).toBe(true);
    const conv = await conversation();
    // Personal data is masked in agent views; an admin reveals it explicitly (audited).
    expect(conv.contact.name).toBe('王小明');
    const masked = await api<{ phone: string | null }>('GET', `/api/v1/contacts/${conv.contact.id}`);
    expect(masked.phone).toBe('138****0000');
    const contact = await api<{
      name: string | null;
      phone: string | null;
      consent: { channelId: string | null } | null;
    }>('POST', `/api/v1/contacts/${conv.contact.id}/reveal`);
    expect(contact.name).toBe('王小明');
    expect(contact.phone).toBe('13800000000');
    expect(contact.consent).toMatchObject({ channelId: site });
    await fresh.close();
    await api('PATCH', `/api/v1/channels/${site}/widget`, { preChatForm: false });
  });

  it('counts characters as the server does: 5,000 emoji are sent whole, 5,001 are held with the counter over', async () => {
    const { fresh, frame } = await chatInNewVisitor();
    await frame.waitForSelector('.pw-composer', { state: 'visible' });
    // 5,000 emoji: 10,000 UTF-16 units, 5,000 characters — the limit, not beyond it.
    const full = '😀'.repeat(5000);
    await frame.fill('.pw-input', full);
    expect(await frame.textContent('.pw-counter')).toBe('5000 / 5000');
    expect(await frame.$eval('.pw-counter', (e) => e.classList.contains('pw-over'))).toBe(false);
    const from = agentSocket!.frames.length;
    await frame.press('.pw-input', 'Enter');
    const live = (await agentSocket!.waitFor((f) => f.type === 'message' && f.message.text === full, {
      from,
      timeoutMs: 10_000,
    })) as Extract<ServerEvent, { type: 'message' }>;
    expect([...live.message.text]).toHaveLength(5000);
    // One more: the counter says so, Send is disabled, Enter sends nothing and keeps the text.
    await frame.fill('.pw-input', `${full}😀`);
    expect(await frame.textContent('.pw-counter')).toBe('5001 / 5000');
    expect(await frame.$eval('.pw-counter', (e) => e.classList.contains('pw-over'))).toBe(true);
    expect(await frame.isDisabled('.pw-send')).toBe(true);
    const before = agentSocket!.frames.length;
    await frame.press('.pw-input', 'Enter');
    await new Promise((r) => setTimeout(r, 300));
    expect(agentSocket!.frames.slice(before).some((f) => f.type === 'message')).toBe(false);
    expect([...(await frame.inputValue('.pw-input'))]).toHaveLength(5001);
    await fresh.close();
  });

  it('is not framed on a site that is not allowed, and shows no bubble there', async () => {
    const other = await browser!.newContext();
    const p = await other.newPage();
    p.setDefaultTimeout(5000);
    // The demo page (the real snippet) on an origin nobody allowed: Chromium resolves
    // *.localhost to the loopback address the server listens on.
    const framed = p.waitForResponse((r) => r.url().includes('/widget/frame'));
    await p.goto(`http://shop.localhost:${server.port}/demo`);
    const res = await framed;
    expect(res.status()).toBe(403);
    expect(res.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await p.waitForFunction(() => 'Parley' in window);
    // The chat never runs there: no frame has the chat's page in it.
    const chats = await Promise.all(p.frames().map((f) => f.$('.pw-app').catch(() => null)));
    expect(chats.filter(Boolean)).toHaveLength(0);
    await other.close();
  });

  it('had no CSP violations or script errors', () => {
    expect(
      problems.filter((p) => !p.includes('ERR_INTERNET_DISCONNECTED') && !p.includes('WebSocket')),
    ).toEqual([]);
  });
});
