// @vitest-environment happy-dom
// The composer with the real stores and API client; only the network (fetch) is stood in for:
// Enter sends and Shift+Enter does not, `/` opens the canned replies with fuzzy search and fills
// placeholders, drafts survive a remount, and messages typed offline are queued and land once.
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia, type Pinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import Composer from '../src/components/inbox/Composer.vue';
import { createConsoleI18n } from '../src/i18n/index.ts';
import type { CannedReply } from '../src/api/types.ts';
import { useConversationsStore } from '../src/stores/conversations.ts';
import { useSessionStore } from '../src/stores/session.ts';
import { AGENT, C1, conversation, fakeInboxServer, message } from './support/inbox-server.ts';

let server: ReturnType<typeof fakeInboxServer>;
let pinia: Pinia;

const canned = (shortcut: string, body: string): CannedReply => ({
  id: `00000000-0000-4000-8000-${shortcut
    .padEnd(12, '0')
    .slice(0, 12)
    .replace(/[^0-9a-f]/g, '0')}`,
  scope: 'global',
  teamId: null,
  teamName: null,
  editable: false,
  shortcut,
  category: 'greetings',
  body,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
});

beforeEach(async () => {
  localStorage.clear();
  pinia = createPinia();
  setActivePinia(pinia);
  server = fakeInboxServer();
  useSessionStore().$patch({ user: AGENT, permissions: ['conversations.reply'], status: 'signed-in' });
  const store = useConversationsStore();
  await store.loadList();
  await store.open(C1);
});
afterEach(() => vi.unstubAllGlobals());

function mountComposer(cannedReplies: CannedReply[] = []) {
  return mount(Composer, {
    props: { conversation: conversation(C1), canned: cannedReplies },
    global: { plugins: [pinia, createConsoleI18n('en')] },
    attachTo: document.body,
  });
}

const textarea = (w: ReturnType<typeof mountComposer>) => w.find('textarea');

async function type(w: ReturnType<typeof mountComposer>, text: string) {
  await textarea(w).setValue(text);
}

describe('the composer', () => {
  it('sends on Enter, adds a line on Shift+Enter, and sends private notes as such', async () => {
    const w = mountComposer();
    await type(w, '第一行');
    await textarea(w).trigger('keydown', { key: 'Enter', shiftKey: true });
    expect(server.sends()).toHaveLength(0);
    await type(w, '第一行\n第二行');
    await textarea(w).trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(server.sends().map((r) => r.body)).toEqual([
      { clientId: expect.any(String), text: '第一行\n第二行' },
    ]);
    expect((textarea(w).element as HTMLTextAreaElement).value).toBe('');

    await w.find('[data-test="private-toggle"]').trigger('click');
    await type(w, 'only for colleagues');
    await textarea(w).trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(server.sends().at(-1)?.body).toMatchObject({ text: 'only for colleagues', private: true });
    expect(useConversationsStore().messages.map((m) => [m.text, m.private])).toEqual([
      ['第一行\n第二行', false],
      ['only for colleagues', true],
    ]);
    w.unmount();
  });

  it('counts characters as the server does (an emoji is one) and does not send above the limit', async () => {
    const store = useConversationsStore();
    // The limit comes from the server's `ready.limits`.
    store.handlers.limits({
      maxTextChars: 10,
      maxFrameBytes: 68096,
      maxResumeEntries: 500,
      framesPerSecond: 20,
      framesBurst: 40,
      maxSendsInFlight: 32,
      maxAttachmentBytes: 1,
    });
    const w = mountComposer();
    const counter = () => w.find('[data-test="composer-counter"]');
    await type(w, '中文');
    expect(counter().exists()).toBe(false);
    // Ten emoji are 20 UTF-16 units but 10 characters: allowed.
    await type(w, '😀'.repeat(10));
    expect(counter().text()).toBe('10 / 10');
    expect(counter().classes()).not.toContain('over');
    await type(w, '😀'.repeat(11));
    expect(counter().text()).toBe('11 / 10');
    expect(counter().classes()).toContain('over');
    expect(w.find('[data-test="send"]').attributes('disabled')).toBeDefined();
    await textarea(w).trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(server.sends()).toHaveLength(0);
    await type(w, '😀'.repeat(10));
    await textarea(w).trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(server.sends().map((r) => (r.body as { text: string }).text)).toEqual(['😀'.repeat(10)]);
    w.unmount();
  });

  it('sends again under a new client id when another sender already used the id (409 conflict)', async () => {
    const taken = '11111111-2222-4333-8444-555555555555';
    // The visitor's message holds that id already.
    server.state.messages.push(message(C1, 1, { clientId: taken, senderType: 'visitor', text: 'hi' }));
    vi.spyOn(crypto, 'randomUUID').mockReturnValueOnce(taken);
    const w = mountComposer();
    await type(w, 'my answer');
    await textarea(w).trigger('keydown', { key: 'Enter' });
    await flushPromises();
    await flushPromises();
    const sent = server.sends().map((r) => (r.body as { clientId: string }).clientId);
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBe(taken);
    expect(sent[1]).not.toBe(taken);
    expect(server.stored('my answer')).toHaveLength(1);
    expect(useConversationsStore().pending).toEqual([]);
    w.unmount();
  });

  it('opens canned replies on `/`, finds them fuzzily and fills the placeholders on insert', async () => {
    const w = mountComposer([
      canned('hello', '您好 {{contact.name}}，我是 {{agent.name}}，很高兴为您服务'),
      canned('thanks', 'Thank you, {{contact.name}}!'),
      canned('ship', '今天下单，明天发货'),
    ]);
    await type(w, '/');
    expect(w.findAll('[data-test="canned-menu"] li')).toHaveLength(3);
    await type(w, '/tks');
    const items = w.findAll('[data-test="canned-menu"] li');
    expect(items[0]!.text()).toContain('/thanks');
    await type(w, '/hlo');
    await textarea(w).trigger('keydown', { key: 'Enter' });
    expect((textarea(w).element as HTMLTextAreaElement).value).toBe('您好 王小明，我是 Ann，很高兴为您服务');
    expect(w.find('[data-test="canned-menu"]').exists()).toBe(false);
    expect(server.sends()).toHaveLength(0); // inserting is not sending
    await textarea(w).trigger('keydown', { key: 'Enter' });
    await flushPromises();
    expect(server.sends().map((r) => (r.body as { text: string }).text)).toEqual([
      '您好 王小明，我是 Ann，很高兴为您服务',
    ]);
    w.unmount();
  });

  it('keeps a half-typed reply per conversation across a remount', async () => {
    const w = mountComposer();
    await type(w, '写了一半的回复');
    w.unmount();
    const again = mountComposer();
    expect((textarea(again).element as HTMLTextAreaElement).value).toBe('写了一半的回复');
    again.unmount();
  });

  it('queues messages typed offline and sends each exactly once when the connection is back', async () => {
    const store = useConversationsStore();
    const w = mountComposer();
    server.state.offline = true;
    for (const text of ['断网时写的第一条', '断网时写的第二条']) {
      await type(w, text);
      await textarea(w).trigger('keydown', { key: 'Enter' });
      await flushPromises();
    }
    expect(store.pending.map((p) => [p.text, p.state])).toEqual([
      ['断网时写的第一条', 'queued'],
      ['断网时写的第二条', 'queued'],
    ]);
    expect(server.state.messages).toEqual([]);

    // Back online, but the answer to the first send is lost after the server committed it:
    // the message stays queued and its resend is recognised by its client id.
    server.state.offline = false;
    server.state.loseNextAnswer = true;
    await store.reconnected();
    expect(server.stored('断网时写的第一条')).toHaveLength(1);
    expect(store.pending.map((p) => p.state)).toEqual(['queued', 'queued']);

    await store.reconnected();
    await store.reconnected(); // a second reconnection has nothing left to send
    expect(store.pending).toEqual([]);
    expect(server.stored('断网时写的第一条')).toHaveLength(1);
    expect(server.stored('断网时写的第二条')).toHaveLength(1);
    expect(store.messages.map((m) => [m.seq, m.text])).toEqual([
      [1, '断网时写的第一条'],
      [2, '断网时写的第二条'],
    ]);
    expect(server.sends()).toHaveLength(3); // first (answer lost), first again (duplicate), second
    w.unmount();
  });
});

/** The browser's XMLHttpRequest as the upload sees it: progress, answer, failure, abort. */
class FakeXhr {
  static all: FakeXhr[] = [];
  url = '';
  status = 0;
  responseText = '';
  body: FormData | null = null;
  private listeners: Record<string, (() => void)[]> = {};
  private uploadListeners: Record<string, ((e: ProgressEvent) => void)[]> = {};
  upload = {
    addEventListener: (type: string, fn: (e: ProgressEvent) => void) =>
      (this.uploadListeners[type] ??= []).push(fn),
  };
  withCredentials = false;
  constructor() {
    FakeXhr.all.push(this);
  }
  open(_method: string, url: string) {
    this.url = url;
  }
  setRequestHeader() {}
  getResponseHeader() {
    return null;
  }
  addEventListener(type: string, fn: () => void) {
    (this.listeners[type] ??= []).push(fn);
  }
  send(body: FormData) {
    this.body = body;
  }
  abort() {
    for (const fn of this.listeners.abort ?? []) fn();
  }
  progress(loaded: number, total: number) {
    for (const fn of this.uploadListeners.progress ?? [])
      fn({ lengthComputable: true, loaded, total } as ProgressEvent);
  }
  fail() {
    for (const fn of this.listeners.error ?? []) fn();
  }
  answer(status: number, body: unknown) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    for (const fn of this.listeners.load ?? []) fn();
  }
}

describe('files in the composer', () => {
  it('sends a pasted image with upload progress, can cancel one, and retries after a refusal', async () => {
    FakeXhr.all = [];
    vi.stubGlobal('XMLHttpRequest', FakeXhr);
    const store = useConversationsStore();
    const w = mountComposer();
    const image = new File([new Uint8Array(2048)], 'screenshot.png', { type: 'image/png' });
    const paste = new Event('paste', { bubbles: true, cancelable: true }) as ClipboardEvent;
    Object.defineProperty(paste, 'clipboardData', { value: { files: [image] } });
    textarea(w).element.dispatchEvent(paste);
    await flushPromises();
    expect(paste.defaultPrevented).toBe(true);
    const [xhr] = FakeXhr.all;
    const item = store.pending[0]!;
    expect(xhr!.url).toBe(`/api/v1/conversations/${C1}/attachments?clientId=${item.clientId}`);
    expect((xhr!.body!.get('file') as File).name).toBe('screenshot.png');
    xhr!.progress(512, 2048);
    expect(store.pending[0]).toMatchObject({ state: 'sending', progress: 0.25 });

    // A refusal (too large) is shown with its reason and a retry.
    xhr!.answer(413, { error: { code: 'payload_too_large', message: 'The file is larger than 20 MB.' } });
    await flushPromises();
    expect(store.pending[0]).toMatchObject({ state: 'failed', error: 'The file is larger than 20 MB.' });
    store.retry(item.clientId);
    await flushPromises();
    const again = FakeXhr.all[1]!;
    expect(again.url).toContain(`clientId=${item.clientId}`); // same client id: at most one message
    const stored = message(C1, 1, { clientId: item.clientId, kind: 'image', text: '', senderType: 'agent' });
    again.answer(201, {
      clientId: item.clientId,
      conversationId: C1,
      messageId: stored.id,
      seq: 1,
      createdAt: stored.createdAt,
      duplicate: false,
      message: stored,
    });
    await flushPromises();
    expect(store.pending).toEqual([]);
    expect(store.messages.map((m) => m.kind)).toEqual(['image']);

    // A dropped file can be cancelled while it uploads: the upload is aborted, nothing is left.
    const drop = new Event('drop', { bubbles: true, cancelable: true }) as DragEvent;
    Object.defineProperty(drop, 'dataTransfer', {
      value: { files: [new File(['%PDF-1.4'], 'quote.pdf', { type: 'application/pdf' })] },
    });
    w.find('[data-test="composer-box"]').element.dispatchEvent(drop);
    await flushPromises();
    expect(store.pending.map((p) => [p.file?.name, p.state])).toEqual([['quote.pdf', 'sending']]);
    const aborted = vi.spyOn(FakeXhr.all[2]!, 'abort');
    store.cancel(store.pending[0]!.clientId);
    await flushPromises();
    expect(aborted).toHaveBeenCalled();
    expect(store.pending).toEqual([]);
    w.unmount();
  });
});
