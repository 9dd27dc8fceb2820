// The chat inside the iframe. It talks to Parley (same origin) over the visitor API and socket,
// and to the embedding page only by postMessage, only with the origin the server checked.
import type { ServerEvent } from '../../../server/src/realtime/events.ts';
import {
  SOURCE_TITLE_MAX_CHARS,
  SOURCE_URL_MAX_CHARS,
  textLength,
  truncateText,
  withoutUnstorable,
} from '../../../server/src/realtime/text-rules.ts';
import { ApiError, createApi, type WidgetConfig } from './api.ts';
import { createConnection, type ConnectionState } from './connection.ts';
import { isLocale, MESSAGES, type Locale } from './i18n.ts';
import { createOutbox, mirroredStorage, nativeStorage, newClientId, type KeyValueStore } from './outbox.ts';
import { createScrollPin } from '../../shared/scroll-pin.ts';
import { renderItem } from './render.ts';
import { createOffHours } from './off-hours.ts';
import { createChatStore } from './store.ts';

const params = new URLSearchParams(location.search);
const site = params.get('site') ?? '';
/** The embedding page's origin; the server framed us only for it (CSP frame-ancestors). */
const parentOrigin = params.get('origin') ?? '';
const native = nativeStorage();
/** Swapped for the page-mirrored store at boot when the frame has no storage of its own. */
let backing: KeyValueStore = native ?? mirroredStorage({}, () => undefined);
const storage: KeyValueStore = {
  getItem: (k) => backing.getItem(k),
  setItem: (k, v) => backing.setItem(k, v),
  removeItem: (k) => backing.removeItem(k),
};
const key = (k: string) => `parley:${site}:${k}`;
const api = createApi();
const store = createChatStore();
const outbox = createOutbox(storage, key('outbox'));

let token: string | null = null;
let conversationId: string | null = null;
let locale: Locale = isLocale(params.get('lang')) ? (params.get('lang') as Locale) : 'zh-CN';
let t = MESSAGES[locale];
let config: WidgetConfig | null = null;
let isOpen = false;
let connState: ConnectionState = 'offline';
let resumed = false;
let pendingUser: { id?: string; hash?: string; name?: string; phone?: string } | null = null;
/** The embedding page as the loader last reported it; sent when a conversation starts. */
let sourcePage: { url: string; title?: string } | undefined;
let agentTypingUntil = 0;
/** The conversation the current socket's hello asked to resume (null: none). */
let resumeSentFor: string | null = null;
/** Longest message in code points (an emoji is one), as the server's `ready.limits` says. */
let maxTextChars = 5000;

// ---------- DOM ----------
const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
const titleEl = $('.pw-title');
const langBtn = $<HTMLButtonElement>('.pw-lang');
const closeBtn = $<HTMLButtonElement>('.pw-close');
const statusEl = $('.pw-status');
const greetingEl = $('.pw-greeting');
const listEl = $('.pw-list');
const bodyEl = $('.pw-body');
const typingEl = $('.pw-typing');
const prechat = $<HTMLFormElement>('.pw-prechat');
const composer = $<HTMLFormElement>('.pw-composer');
const input = $<HTMLTextAreaElement>('.pw-input');
const fileInput = $<HTMLInputElement>('.pw-file-input');
const attachBtn = $<HTMLButtonElement>('.pw-attach');
const sendBtn = $<HTMLButtonElement>('.pw-send');
const counterEl = $('.pw-counter');
const newBtn = $<HTMLButtonElement>('.pw-new');

/** The thread follows the newest message unless the visitor scrolled up (then: the button). */
const pin = createScrollPin(bodyEl, showNewMessages);
function showNewMessages({ unseen }: { unseen: number }) {
  newBtn.hidden = unseen === 0;
  newBtn.textContent = (unseen === 1 ? t.newMessage : t.newMessages).replace('{n}', String(unseen));
}
newBtn.addEventListener('click', () => pin.toBottom());
const images = new Map<string, HTMLImageElement>();

const objectUrls = new Map<string, Promise<string>>();
function attachmentUrl(id: string): Promise<string> {
  let p = objectUrls.get(id);
  if (!p) {
    p = api.attachment(token ?? '', id).then((b) => URL.createObjectURL(b));
    p.catch(() => objectUrls.delete(id));
    objectUrls.set(id, p);
  }
  return p;
}

function applyTexts() {
  document.documentElement.lang = locale;
  titleEl.textContent = config?.name ?? t.title;
  langBtn.textContent = t.language;
  closeBtn.title = t.close;
  closeBtn.setAttribute('aria-label', t.close);
  greetingEl.textContent = config?.greeting || t.greeting;
  input.placeholder = t.placeholder;
  attachBtn.title = t.attach;
  attachBtn.setAttribute('aria-label', t.attach);
  sendBtn.textContent = t.send;
  typingEl.textContent = t.typing;
  for (const el of prechat.querySelectorAll<HTMLElement>('[data-t]')) {
    el.textContent = t[el.dataset.t as keyof typeof t];
  }
}

function render() {
  const ctx = {
    doc: document,
    t,
    attachmentUrl,
    images,
    onRetry: (clientId: string) => {
      store.markFailed(clientId, false);
      render();
      flush();
    },
  };
  listEl.replaceChildren(...store.items(t).map((item) => renderItem(item, ctx)));
  typingEl.hidden = Date.now() >= agentTypingUntil;
  statusEl.hidden = connState === 'online' || !token;
  statusEl.textContent = connState === 'connecting' ? t.connecting : t.offline;
  showNewMessages(pin);
  markRead();
  post({ type: 'unread', count: store.unread() });
}

function showPrechat(show: boolean) {
  prechat.hidden = !show;
  composer.hidden = show;
}

// ---------- the embedding page ----------
function post(msg: Record<string, unknown>) {
  if (window.parent !== window && parentOrigin)
    window.parent.postMessage({ parley: 'widget', ...msg }, parentOrigin);
}

window.addEventListener('message', (e: MessageEvent) => {
  if (e.source !== window.parent || e.origin !== parentOrigin) return;
  const d = e.data as {
    parley?: string;
    type?: string;
    user?: unknown;
    data?: unknown;
    url?: unknown;
    title?: unknown;
  } | null;
  if (!d || d.parley !== 'loader') return;
  if (d.type === 'state') {
    receiveState?.(typeof d.data === 'object' && d.data !== null ? (d.data as Record<string, string>) : {});
  } else if (d.type === 'open') {
    isOpen = true;
    if (config) checkHours();
    render();
    pin.toBottom();
    input.focus();
  } else if (d.type === 'close') {
    isOpen = false;
  } else if (d.type === 'setUser' && typeof d.user === 'object' && d.user !== null) {
    void setUser(d.user as Record<string, unknown>);
  } else if (d.type === 'page' && typeof d.url === 'string' && /^https?:\/\/\S+$/i.test(d.url)) {
    const title = typeof d.title === 'string' ? withoutUnstorable(d.title).trim() : '';
    sourcePage = {
      url: truncateText(d.url, SOURCE_URL_MAX_CHARS),
      ...(title ? { title: truncateText(title, SOURCE_TITLE_MAX_CHARS) } : {}),
    };
  }
});

async function setUser(u: Record<string, unknown>) {
  const str = (v: unknown) => (typeof v === 'string' && v ? v.slice(0, 200) : undefined);
  pendingUser = { id: str(u.id), hash: str(u.hash), name: str(u.name), phone: str(u.phone) };
  const nameField = prechat.elements.namedItem('name') as HTMLInputElement;
  const phoneField = prechat.elements.namedItem('phone') as HTMLInputElement;
  if (pendingUser.name && !nameField.value) nameField.value = pendingUser.name;
  if (pendingUser.phone && !phoneField.value) phoneField.value = pendingUser.phone;
  // A verified user id is applied right away when there is a session already; otherwise with
  // the first message.
  if (token && pendingUser.id && pendingUser.hash) await startSession();
}

// ---------- session, conversation, socket ----------
async function startSession() {
  const res = await api.session({
    channelId: site,
    ...(token ? { token } : {}),
    ...(pendingUser?.id && pendingUser.hash ? { userId: pendingUser.id, userHash: pendingUser.hash } : {}),
    ...(pendingUser?.name ? { name: pendingUser.name } : {}),
  });
  const changedContact = token !== null && storage.getItem(key('contact')) !== res.contactId;
  token = res.token;
  storage.setItem(key('token'), res.token);
  storage.setItem(key('contact'), res.contactId);
  if (changedContact) {
    conversationId = null;
    storage.removeItem(key('conversation'));
  }
  connection.restart();
}

/** The browser's language for routing rules (PROTOCOL.md); only a well-formed BCP 47 tag is sent. */
function browserLanguage(): string | undefined {
  const lang = typeof navigator.language === 'string' ? navigator.language : '';
  return /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,5}$/.test(lang) ? lang : undefined;
}

let ensuring: Promise<void> | null = null;
function ensureConversation(): Promise<void> {
  ensuring ??= (async () => {
    if (!token) await startSession();
    if (!conversationId) {
      const conv = await api.openConversation(token!, sourcePage, browserLanguage());
      store.agentRead(conv.agentReadSeq);
      adoptConversation(conv.id);
    }
  })().finally(() => (ensuring = null));
  return ensuring;
}

/** Makes `id` the frame's conversation and resumes it on the socket (its messages arrive there). */
function adoptConversation(id: string) {
  conversationId = id;
  storage.setItem(key('conversation'), id);
  resumed = false;
  if (connection.ready) {
    resumeSentFor = id;
    connection.send({ type: 'resume', conversations: [{ conversationId: id, lastSeq: store.lastSeq }] });
  } else connection.start();
}

const connection = createConnection({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/widget/ws`,
  token: () => token,
  resume: () => {
    resumed = false;
    resumeSentFor = conversationId;
    return conversationId ? [{ conversationId, lastSeq: store.lastSeq }] : [];
  },
  onEvent: (e) => handle(e),
  onState: (s) => {
    connState = s;
    render();
  },
  onUnauthorized: () => {
    // The visitor is gone (deleted) or the key changed: start over with a new session.
    token = null;
    conversationId = null;
    storage.removeItem(key('token'));
    storage.removeItem(key('conversation'));
    if (outbox.all().length) void ensureConversation().then(flush, () => undefined);
  },
});

/** Sends everything still unacknowledged; the client id makes repeats harmless. */
function flush() {
  const queued = outbox.all();
  if (queued.length === 0) return;
  if (!conversationId || !token) {
    if (navigator.onLine) void ensureConversation().then(flush, () => setTimeout(flush, 3000));
    return;
  }
  if (!connection.ready || !resumed) return;
  for (const q of queued) {
    if (store.pendingOf(q.clientId)?.failed) continue;
    connection.send({ type: 'send', ref: q.clientId, conversationId, clientId: q.clientId, text: q.text });
  }
}

function handle(e: ServerEvent) {
  switch (e.type) {
    case 'ready':
      maxTextChars = e.limits.maxTextChars;
      updateCounter();
      if (!conversationId) {
        resumed = true;
        flush();
      } else if (resumeSentFor !== conversationId) {
        // The conversation was opened while this socket was saying hello.
        resumeSentFor = conversationId;
        connection.send({ type: 'resume', conversations: [{ conversationId, lastSeq: store.lastSeq }] });
      }
      return;
    case 'resumed':
      if (e.conversationId === conversationId) {
        if (e.reset) store.resetTo(e.lastSeq);
        else store.completeThrough(e.lastSeq);
        if (!resumed) {
          resumed = true;
          flush();
        }
        render();
      }
      return;
    case 'message':
      if (e.message.conversationId !== conversationId) return;
      if (e.message.clientId) outbox.remove(e.message.clientId);
      if (store.receive(e.message)) {
        if (e.message.senderType === 'agent') agentTypingUntil = 0;
        if (store.hasGap()) fillGapSoon();
        render();
        pin.added(e.message.senderType === 'visitor' ? 0 : 1);
      } else render();
      return;
    case 'ack':
      outbox.remove(e.clientId);
      return;
    case 'conversation':
      if (e.conversation.id !== conversationId) return;
      if ('agentReadSeq' in e.conversation) store.agentRead(e.conversation.agentReadSeq);
      render();
      return;
    case 'typing':
      if (e.conversationId !== conversationId || e.who.type !== 'agent') return;
      agentTypingUntil = e.typing ? Date.now() + e.expiresInMs : 0;
      render();
      if (e.typing) setTimeout(render, e.expiresInMs + 50);
      return;
    case 'read':
      if (e.conversationId === conversationId && e.reader.type === 'agent') {
        store.agentRead(e.seq);
        render();
      }
      return;
    case 'error': {
      const clientId = e.ref && store.pendingOf(e.ref) ? e.ref : null;
      if (!clientId) return;
      if (e.code === 'conflict' && e.field === 'clientId') {
        // Another sender's message has this client id (never by chance: ids are random): the
        // text was not stored; send it again under a new id.
        const queued = outbox.all().find((q) => q.clientId === clientId);
        outbox.remove(clientId);
        store.dropPending(clientId);
        if (queued) {
          const again = { ...queued, clientId: newClientId() };
          outbox.add(again);
          store.addPending({ ...again, kind: 'text', failed: false });
        }
        render();
        flush();
      } else if (e.code === 'bad_frame' || e.code === 'text_too_long' || e.code === 'forbidden') {
        outbox.remove(clientId);
        store.markFailed(clientId);
        render();
      } else if (e.code === 'not_found' || e.code === 'conflict') {
        // The conversation is gone or closed for sending: open the current one and resend.
        conversationId = null;
        storage.removeItem(key('conversation'));
        flush();
      } else setTimeout(flush, 3000);
      return;
    }
    case 'presence':
    case 'ok':
    case 'pong':
      return;
  }
}

/**
 * A message arrived above a hole. The server sends a socket its messages in order, so the hole
 * is a private note (never sent to visitors) or something lost: after a short wait, replay from
 * lastSeq; `resumed` then says up to where the visitor has everything.
 */
const GAP_WAIT_MS = 1000;
let gapTimer: ReturnType<typeof setTimeout> | null = null;
function fillGapSoon() {
  if (gapTimer) return;
  gapTimer = setTimeout(() => {
    gapTimer = null;
    if (!store.hasGap() || !conversationId || !connection.ready || !resumed) return;
    connection.send({ type: 'resume', conversations: [{ conversationId, lastSeq: store.lastSeq }] });
  }, GAP_WAIT_MS);
}

let lastReadSent = 0;
function markRead() {
  if (!isOpen || document.visibilityState !== 'visible' || !conversationId) return;
  const seq = store.lastSeq;
  if (seq <= store.readSeq && seq <= lastReadSent) return;
  store.visitorRead(seq);
  storage.setItem(key('read'), String(seq));
  if (seq > lastReadSent && connection.send({ type: 'read', conversationId, seq })) lastReadSent = seq;
}
document.addEventListener('visibilitychange', () => render());

// ---------- composing ----------
/** Shows "n / max" near the limit (the last 10%) and above it, counted as the server counts. */
function updateCounter(): boolean {
  const n = textLength(input.value.trim());
  const over = n > maxTextChars;
  counterEl.hidden = n <= maxTextChars * 0.9;
  counterEl.textContent = `${n} / ${maxTextChars}`;
  counterEl.classList.toggle('pw-over', over);
  counterEl.title = over ? t.tooLong.replace('{max}', String(maxTextChars)) : '';
  sendBtn.disabled = over;
  return over;
}

function sendText() {
  const text = input.value.trim();
  if (!text || updateCounter()) return;
  input.value = '';
  updateCounter();
  const item = { clientId: newClientId(), text, createdAt: new Date().toISOString() };
  outbox.add(item);
  store.addPending({ ...item, kind: 'text', failed: false });
  if (conversationId) connection.send({ type: 'typing', conversationId, typing: false });
  render();
  pin.toBottom();
  flush();
}

composer.addEventListener('submit', (e) => {
  e.preventDefault();
  sendText();
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendText();
  }
});
let typingSentAt = 0;
input.addEventListener('input', () => {
  updateCounter();
  if (!conversationId || Date.now() - typingSentAt < 2000) return;
  typingSentAt = Date.now();
  connection.send({ type: 'typing', conversationId, typing: true });
});

attachBtn.addEventListener('click', () => fileInput.click());
fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  fileInput.value = '';
  if (file) void upload(file);
});

async function upload(file: File) {
  const clientId = newClientId();
  const image = file.type.startsWith('image/');
  store.addPending({
    clientId,
    kind: image ? 'image' : 'file',
    text: file.name,
    fileName: file.name,
    createdAt: new Date().toISOString(),
    failed: false,
    ...(image ? { localPreview: URL.createObjectURL(file) } : {}),
  });
  render();
  pin.toBottom();
  try {
    await ensureConversation();
    const ack = await api.upload(token!, conversationId!, clientId, file);
    store.receive(ack.message);
    // The HTTP answer may come before earlier messages reach the socket.
    if (store.hasGap()) fillGapSoon();
  } catch (err) {
    store.markFailed(clientId);
    if (err instanceof ApiError && err.status === 413) statusEl.textContent = t.tooLarge;
  }
  render();
}

// ---------- pre-chat form ----------
prechat.addEventListener('submit', (e) => {
  e.preventDefault();
  const field = (n: string) => prechat.elements.namedItem(n) as HTMLInputElement;
  const name = field('name').value.trim();
  const phone = field('phone').value.trim();
  const consent = field('consent').checked;
  const error = prechat.querySelector<HTMLElement>('.pw-form-error')!;
  if ((name || phone) && !consent) {
    error.textContent = t.consentRequired;
    error.hidden = false;
    return;
  }
  error.hidden = true;
  void (async () => {
    try {
      await ensureConversation();
      if (name || phone) {
        await api.profile(token!, { ...(name ? { name } : {}), ...(phone ? { phone } : {}), consent });
      }
      storage.setItem(key('prechat'), 'done');
      showPrechat(false);
      input.focus();
    } catch (err) {
      error.textContent = err instanceof Error ? err.message : String(err);
      error.hidden = false;
    }
  })();
});
prechat.querySelector('.pw-skip')!.addEventListener('click', () => {
  storage.setItem(key('prechat'), 'done');
  showPrechat(false);
});

langBtn.addEventListener('click', () => {
  locale = locale === 'zh-CN' ? 'en' : 'zh-CN';
  storage.setItem('parley:lang', locale);
  t = MESSAGES[locale];
  applyTexts();
  offHours.applyTexts();
  render();
});
closeBtn.addEventListener('click', () => {
  isOpen = false;
  post({ type: 'close' });
});

// ---------- off hours (off-hours.ts) ----------
const offHours = createOffHours({
  doc: document,
  noticeBefore: bodyEl,
  formBefore: composer,
  texts: () => t,
  locale: () => locale,
  submit: async (input) => {
    if (!token) await startSession();
    const res = await api.leaveMessage(token!, { ...input, clientId: newClientId() });
    storage.setItem(key('prechat'), 'done');
    if (res.conversationId !== conversationId) adoptConversation(res.conversationId);
    else if (connection.ready)
      connection.send({ type: 'resume', conversations: [{ conversationId, lastSeq: store.lastSeq }] });
    composer.hidden = false;
  },
});

/** Asks the site's hours; closed and no conversation yet: the leave-a-message form replaces the chat. */
function checkHours() {
  void api.hours(site).then(
    (h) => {
      if (offHours.update(h, conversationId !== null)) {
        prechat.hidden = true;
        composer.hidden = true;
      } else if (composer.hidden && prechat.hidden) composer.hidden = false;
    },
    () => undefined, // unknown: behave as open
  );
}
// Again every minute while the chat is open (not from every closed page that embeds the widget).
setInterval(() => {
  if (isOpen && config) checkHours();
}, 60_000);

// ---------- start ----------
let receiveState: ((data: Record<string, string>) => void) | null = null;

/** Where the visitor's token and queue live: the frame's storage, else the page's copy. */
async function openStorage() {
  if (native || window.parent === window) return;
  const data = await new Promise<Record<string, string>>((resolve) => {
    receiveState = resolve;
    setTimeout(() => resolve({}), 1500);
    post({ type: 'boot' });
  });
  receiveState = null;
  backing = mirroredStorage(data, (k, v) => post({ type: 'store', key: k, value: v }));
}

async function boot() {
  await openStorage();
  token = storage.getItem(key('token'));
  conversationId = storage.getItem(key('conversation'));
  const savedLang = storage.getItem('parley:lang');
  if (isLocale(savedLang)) locale = savedLang;
  t = MESSAGES[locale];
  store.visitorRead(Number(storage.getItem(key('read')) ?? 0));
  applyTexts();
  for (const q of outbox.all()) store.addPending({ ...q, kind: 'text', failed: false });
  render();
  pin.toBottom();
  // Standalone (not framed, e.g. opened directly): behave as open.
  if (window.parent === window) isOpen = true;
  void api.config(site).then(
    (c) => {
      config = c;
      document.documentElement.style.setProperty('--pw-color', c.color);
      applyTexts();
      showPrechat(c.preChatForm && !storage.getItem(key('prechat')) && !conversationId);
      checkHours();
      post({ type: 'ready', color: c.color, title: c.name });
    },
    // No configuration (unknown site, Parley unreachable): the page shows no bubble.
    () => undefined,
  );
  if (token) connection.start();
  if (outbox.all().length) flush();
}

void boot();
