// The inbox's state: the conversation list, the open conversation with its messages, the
// messages being sent (the outbox), a previous conversation shown read-only, and the connection.
// Fed by one place: the realtime dispatcher (realtime/dispatch.ts) calls `handlers`, and HTTP
// answers go through the same merge functions, so the list, the thread and the badges agree.
//
// Sending: every message gets a client id and shows at once from the outbox; the server's copy
// (from the HTTP answer or the socket, whichever comes first) replaces it, matched by client id.
// A message typed offline (text or file) stays queued and is sent when the connection is back;
// the client id makes a resend of one the server already has a no-op, so it lands exactly once.
import { defineStore } from 'pinia';
import { computed, ref, shallowRef } from 'vue';
import { api, ApiError } from '../api/client.ts';
import type { Conversation, ConversationQuery, Message, SendAck } from '../api/types.ts';
import { uploadFile, type UploadHandle } from '../lib/upload.ts';
import type { RealtimeHandlers } from '../realtime/dispatch.ts';
import type { ConnectionStatus } from '../realtime/socket.ts';

export type InboxView = NonNullable<ConversationQuery['view']>;
export type StatusFilter = NonNullable<ConversationQuery['status']> | '';

export interface OutboxItem {
  clientId: string;
  conversationId: string;
  text: string;
  private: boolean;
  /** An attachment being sent (kept in memory only: files cannot go to localStorage). */
  file: File | null;
  /** queued: waits for the network; sending: on its way; failed: refused, the agent decides. */
  state: 'queued' | 'sending' | 'failed';
  /** Upload progress, 0..1. */
  progress: number;
  error: string;
}

/** What the store tells the outside world (sound and desktop notifications; set by the view). */
export interface InboxAlerts {
  newConversation(c: Conversation): void;
  newMessage(m: Message, c: Conversation | undefined): void;
}

const bySeq = (a: Message, b: Message) => a.seq - b.seq;
/** How long a hole in the open thread may stay before the missing range is fetched. */
const GAP_WAIT_MS = 1000;
/** The server's list order: active conversations by last activity, resolved ones by when. */
const sortAt = (c: Conversation) => (c.status === 'resolved' && c.resolvedAt) || c.lastActivityAt;
const byActivity = (a: Conversation, b: Conversation) =>
  sortAt(b).localeCompare(sortAt(a)) || b.id.localeCompare(a.id);

function isNetwork(err: unknown): boolean {
  return err instanceof ApiError && err.status === 0 && err.code !== 'aborted';
}

function online(): boolean {
  return typeof navigator === 'undefined' || navigator.onLine !== false;
}

export const useConversationsStore = defineStore('conversations', () => {
  const view = ref<InboxView>('mine');
  const status = ref<StatusFilter>('open');
  const search = ref('');
  const list = ref<Conversation[]>([]);
  const listLoading = ref(false);
  const listError = ref<unknown>(null);

  const openId = ref<string | null>(null);
  const current = ref<Conversation | null>(null);
  /** Messages of the open conversation, ascending by seq, one per id. */
  const messages = ref<Message[]>([]);
  const outbox = ref<OutboxItem[]>([]);
  /** A previous conversation of the same customer, shown read-only in place of the thread. */
  const preview = shallowRef<{ conversation: Conversation; messages: Message[] } | null>(null);
  const connection = ref<ConnectionStatus>('connecting');
  /** Longest message, in code points (server/src/realtime/text-rules.ts); from `ready.limits`. */
  const maxTextChars = ref(5000);
  /** Who is typing in which conversation (visitor side), with when to stop showing it. */
  const typing = ref<Record<string, { name: string | null; until: number }>>({});
  /** Conversations whose visitor has the chat open right now. */
  const visitorOnline = ref<Record<string, boolean>>({});
  /** The open conversation left this agent's view (transferred away, team change). */
  const openRemoved = ref(false);

  let alerts: InboxAlerts | undefined;
  const uploads = new Map<string, UploadHandle>();
  const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

  const pending = computed(() => outbox.value.filter((o) => o.conversationId === openId.value));
  /** Unread visitor messages over the list, the open conversation excluded (page title). */
  const unreadTotal = computed(() =>
    list.value.reduce((n, c) => n + (c.id === openId.value ? 0 : c.unread), 0),
  );

  // ---------- the list ----------

  let listRequest = 0;
  async function loadList(): Promise<void> {
    const mine = ++listRequest;
    listLoading.value = true;
    try {
      const res = await api.conversations.list({
        view: view.value,
        ...(status.value ? { status: status.value } : {}),
        ...(search.value.trim() ? { q: search.value.trim() } : {}),
        limit: 50,
      });
      if (mine !== listRequest) return;
      list.value = res.conversations.map((c) => (c.id === openId.value ? { ...c, unread: 0 } : c));
      listError.value = null;
    } catch (err) {
      if (mine === listRequest) listError.value = err;
    } finally {
      if (mine === listRequest) listLoading.value = false;
    }
  }

  let listTimer: ReturnType<typeof setTimeout> | undefined;
  /** Many events can arrive at once; the list is refetched once after a short pause. */
  function refreshListSoon(): void {
    clearTimeout(listTimer);
    listTimer = setTimeout(() => void loadList(), 300);
  }

  /** Applies a newer copy of a conversation to the list and the open one. */
  function mergeConversation(c: Omit<Conversation, 'unread' | 'readSeq'> & Partial<Conversation>): void {
    const i = list.value.findIndex((x) => x.id === c.id);
    if (i >= 0) {
      const old = list.value[i]!;
      const next = { ...old, ...c, unread: c.id === openId.value ? 0 : (c.unread ?? old.unread) };
      list.value = list.value.map((x, j) => (j === i ? next : x)).sort(byActivity);
    }
    if (current.value?.id === c.id) {
      current.value = { ...current.value, ...c, unread: 0, readSeq: current.value.readSeq };
    }
  }

  /** A contact's tags changed (customer pane): its conversations' VIP mark follows at once. */
  function contactTagsChanged(contactId: string, tags: readonly string[]): void {
    const vip = tags.some((t) => t.toLowerCase() === 'vip');
    const apply = <T extends { contact: Conversation['contact'] }>(c: T): T =>
      c.contact.id === contactId && c.contact.vip !== vip ? { ...c, contact: { ...c.contact, vip } } : c;
    list.value = list.value.map(apply);
    if (current.value) current.value = apply(current.value);
  }

  // ---------- the open conversation ----------

  let opening = 0;
  async function open(id: string | null): Promise<void> {
    const mine = ++opening;
    openId.value = id;
    openRemoved.value = false;
    current.value = null;
    messages.value = [];
    preview.value = null;
    if (!id) return;
    list.value = list.value.map((c) => (c.id === id ? { ...c, unread: 0 } : c));
    const [conversation, history] = await Promise.all([
      api.conversations.get(id),
      api.conversations.messages(id, { limit: 200 }),
    ]);
    if (mine !== opening) return; // another conversation was opened meanwhile
    current.value = { ...conversation, unread: 0 };
    for (const m of history) merge(m);
    markReadSoon();
  }

  /** Puts one message in its place by seq (replacing an older copy of it), and retires the
   *  outbox entry it answers. */
  function merge(m: Message): void {
    if (m.clientId) {
      const sent = outbox.value.find(
        (o) => o.clientId === m.clientId && o.conversationId === m.conversationId,
      );
      if (sent) outbox.value = outbox.value.filter((o) => o !== sent);
    }
    if (m.conversationId !== openId.value) return;
    const rest = messages.value.filter((x) => x.id !== m.id);
    const last = rest.at(-1);
    messages.value = !last || last.seq < m.seq ? [...rest, m] : [...rest, m].sort(bySeq);
    if (m.seq > syncedSeq()) fillGapSoon();
  }

  /**
   * The open thread has a message above a hole (an HTTP answer can come before an earlier
   * message reaches the socket; the socket itself delivers in order). If the hole is still
   * there after a moment, the missing range is fetched: agents see every seq, so after the
   * fetch the thread is contiguous again (docs/PROTOCOL.md, "Client rules").
   */
  let gapTimer: ReturnType<typeof setTimeout> | undefined;
  function fillGapSoon(): void {
    if (gapTimer) return;
    gapTimer = setTimeout(() => {
      gapTimer = undefined;
      void fillGap();
    }, GAP_WAIT_MS);
  }
  async function fillGap(): Promise<void> {
    const id = openId.value;
    const after = syncedSeq();
    if (!id || (messages.value.at(-1)?.seq ?? 0) <= after) return;
    const missed = await api.conversations.messages(id, { afterSeq: after }).catch(() => null);
    if (!missed) {
      fillGapSoon(); // the network is down: the reconnect catches up, or the next try does
      return;
    }
    for (const m of missed) merge(m);
  }

  /**
   * The seq up to which the open thread has every message (agents see every seq: private notes
   * and system events included). A reply of ours acknowledged while the socket was down can sit
   * above a gap; catching up starts below it, so the gap is filled.
   */
  function syncedSeq(): number {
    const list = messages.value;
    if (list.length === 0) return 0;
    let last = list[0]!.seq;
    for (const m of list) {
      if (m.seq > last + 1) break;
      last = m.seq;
    }
    return last;
  }

  let readTimer: ReturnType<typeof setTimeout> | undefined;
  /** The open conversation is read up to its last message (it never shows an unread badge). */
  function markReadSoon(): void {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      const id = openId.value;
      const last = messages.value.at(-1)?.seq;
      if (!id || !last || !current.value || current.value.readSeq >= last) return;
      current.value = { ...current.value, readSeq: last };
      void api.conversations.markRead(id, last).catch(() => undefined);
    }, 200);
  }

  /** After a reconnect: what the open thread missed, and fresh lists. */
  async function catchUp(): Promise<void> {
    const id = openId.value;
    if (id) {
      const after = syncedSeq();
      const missed = await api.conversations.messages(id, { afterSeq: after }).catch(() => []);
      for (const m of missed) merge(m);
      markReadSoon();
    }
    await loadList();
  }

  // ---------- sending ----------

  function enqueue(item: Omit<OutboxItem, 'state' | 'progress' | 'error' | 'clientId'>): OutboxItem {
    const entry: OutboxItem = {
      ...item,
      clientId: crypto.randomUUID(),
      state: 'queued',
      progress: 0,
      error: '',
    };
    outbox.value = [...outbox.value, entry];
    void flush();
    return entry;
  }

  function sendText(conversationId: string, text: string, isPrivate: boolean): OutboxItem | null {
    const body = text.trim();
    if (!body) return null;
    return enqueue({ conversationId, text: body, private: isPrivate, file: null });
  }

  function sendFile(conversationId: string, file: File, isPrivate: boolean): OutboxItem {
    return enqueue({ conversationId, text: '', private: isPrivate, file });
  }

  function patchItem(clientId: string, patch: Partial<OutboxItem>): void {
    outbox.value = outbox.value.map((o) => (o.clientId === clientId ? { ...o, ...patch } : o));
  }

  function transmit(item: OutboxItem): Promise<SendAck> {
    if (!item.file) {
      return api.conversations.send(item.conversationId, {
        clientId: item.clientId,
        text: item.text,
        ...(item.private ? { private: true } : {}),
      });
    }
    const handle = uploadFile(
      api.conversations.uploadUrl(item.conversationId, item.clientId, item.private),
      item.file,
      (progress) => patchItem(item.clientId, { progress }),
    );
    uploads.set(item.clientId, handle);
    return handle.promise.finally(() => uploads.delete(item.clientId));
  }

  let flushing: Promise<void> | null = null;
  let flushAgain = false;
  /**
   * Sends the queued messages in order, one at a time. A network failure puts the message back
   * in the queue and stops (the next reconnect flushes again); any other refusal marks it
   * failed with the reason and a retry button.
   */
  function flush(): Promise<void> {
    if (flushing) {
      flushAgain = true;
      return flushing;
    }
    flushing = (async () => {
      do {
        flushAgain = false;
        for (;;) {
          if (!online()) return;
          const item = outbox.value.find((o) => o.state === 'queued');
          if (!item) break;
          patchItem(item.clientId, { state: 'sending', error: '' });
          try {
            const ack = await transmit(item);
            merge(ack.message);
            if (ack.message.conversationId === openId.value) markReadSoon();
            mergeConversationActivity(ack.message);
          } catch (err) {
            if (isNetwork(err)) {
              patchItem(item.clientId, { state: 'queued', progress: 0 });
              return;
            }
            if (err instanceof ApiError && err.code === 'aborted') continue; // removed by cancel()
            if (err instanceof ApiError && err.code === 'conflict' && err.field === 'clientId') {
              // Another sender's message has this client id (never by chance: a random UUID);
              // nothing was stored. Send it again under a new id.
              const fresh = crypto.randomUUID();
              outbox.value = outbox.value.map((o) =>
                o.clientId === item.clientId ? { ...o, clientId: fresh, state: 'queued' } : o,
              );
              continue;
            }
            patchItem(item.clientId, {
              state: 'failed',
              error: err instanceof Error ? err.message : String(err),
            });
          }
        }
      } while (flushAgain);
    })().finally(() => {
      flushing = null;
    });
    return flushing;
  }

  function retry(clientId: string): void {
    patchItem(clientId, { state: 'queued', progress: 0, error: '' });
    void flush();
  }

  /** Drops an unsent message (and stops its upload). */
  function cancel(clientId: string): void {
    outbox.value = outbox.value.filter((o) => o.clientId !== clientId);
    uploads.get(clientId)?.abort();
  }

  /** The list entry of a conversation gets its newest message without waiting for a refetch. */
  function mergeConversationActivity(m: Message): void {
    const c = list.value.find((x) => x.id === m.conversationId);
    if (!c || c.lastSeq >= m.seq) return;
    const preview = m.private
      ? c.lastMessagePreview
      : m.text || m.attachment?.fileName || c.lastMessagePreview;
    const unread = m.senderType === 'visitor' && m.conversationId !== openId.value ? c.unread + 1 : c.unread;
    mergeConversation({
      ...c,
      lastSeq: m.seq,
      lastMessagePreview: preview,
      lastActivityAt: m.createdAt,
      unread,
    });
  }

  // ---------- actions on the open conversation ----------

  async function act(action: 'claim' | 'resolve' | 'reopen'): Promise<void> {
    const id = openId.value;
    if (!id) return;
    mergeConversation(await api.conversations[action](id));
    refreshListSoon();
  }

  async function transfer(assigneeId: string, note: string): Promise<void> {
    const id = openId.value;
    if (!id) return;
    mergeConversation(await api.conversations.transfer(id, assigneeId, note.trim() || undefined));
    refreshListSoon();
  }

  async function snooze(until: Date): Promise<void> {
    const id = openId.value;
    if (!id) return;
    mergeConversation(await api.conversations.snooze(id, until));
    refreshListSoon();
  }

  async function openPreview(id: string): Promise<void> {
    const [conversation, history] = await Promise.all([
      api.conversations.get(id),
      api.conversations.messages(id, { limit: 200 }),
    ]);
    preview.value = { conversation, messages: [...history].sort(bySeq) };
  }

  function closePreview(): void {
    preview.value = null;
  }

  // ---------- realtime ----------

  const handlers: RealtimeHandlers = {
    limits(limits) {
      maxTextChars.value = limits.maxTextChars;
    },
    message(m) {
      const known = list.value.find((c) => c.id === m.conversationId);
      merge(m);
      mergeConversationActivity(m);
      if (m.conversationId === openId.value) markReadSoon();
      if (!known) refreshListSoon();
      if (m.senderType === 'visitor') {
        const t = typing.value;
        if (t[m.conversationId]) {
          const { [m.conversationId]: _gone, ...rest } = t;
          typing.value = rest;
        }
        alerts?.newMessage(m, known);
      }
    },
    conversation(c) {
      const known = list.value.some((x) => x.id === c.id);
      mergeConversation(c);
      // Status, assignee or team may have moved it in or out of the current tab.
      refreshListSoon();
      if (!known && c.status === 'open' && c.id !== openId.value) {
        alerts?.newConversation({ ...c, unread: 0, readSeq: 0 });
      }
    },
    read(e) {
      if (e.reader.type !== 'visitor' || current.value?.id !== e.conversationId) return;
      if (current.value.visitorReadSeq < e.seq) current.value = { ...current.value, visitorReadSeq: e.seq };
    },
    visitorPresence(conversationId, isOnline) {
      visitorOnline.value = { ...visitorOnline.value, [conversationId]: isOnline };
    },
    removed(conversationId) {
      list.value = list.value.filter((c) => c.id !== conversationId);
      outbox.value = outbox.value.filter((o) => o.conversationId !== conversationId || o.state === 'sending');
      if (openId.value === conversationId) {
        current.value = null;
        messages.value = [];
        openRemoved.value = true;
      }
    },
    accessChanged() {
      refreshListSoon();
    },
    reset(conversationId) {
      // The conversation ends below what the thread holds (a restored database): reload it.
      if (conversationId === openId.value) void open(conversationId);
    },
    typing(e) {
      if (e.who.type !== 'visitor') return;
      const rest = { ...typing.value };
      clearTimeout(typingTimers.get(e.conversationId));
      if (e.typing) {
        rest[e.conversationId] = { name: e.who.name, until: Date.now() + e.expiresInMs };
        // Without a refresh the indicator goes by itself.
        typingTimers.set(
          e.conversationId,
          setTimeout(() => {
            const { [e.conversationId]: _gone, ...others } = typing.value;
            typing.value = others;
          }, e.expiresInMs),
        );
      } else {
        delete rest[e.conversationId];
      }
      typing.value = rest;
    },
  };

  /** What the socket asks the server to replay after a reconnection. */
  function resumeEntries(): { conversationId: string; lastSeq: number }[] {
    const id = openId.value;
    const last = syncedSeq();
    return id && last ? [{ conversationId: id, lastSeq: last }] : [];
  }

  /** The socket (re)connected: replay arrives by itself; refetch the lists, send the queue. */
  async function reconnected(): Promise<void> {
    await Promise.all([catchUp(), flush()]);
  }

  function setAlerts(a: InboxAlerts | undefined): void {
    alerts = a;
  }

  function reset(): void {
    clearTimeout(listTimer);
    clearTimeout(readTimer);
    clearTimeout(gapTimer);
    gapTimer = undefined;
    for (const timer of typingTimers.values()) clearTimeout(timer);
    typingTimers.clear();
    for (const u of uploads.values()) u.abort();
    uploads.clear();
  }

  return {
    view,
    status,
    search,
    list,
    listLoading,
    listError,
    openId,
    current,
    messages,
    outbox,
    pending,
    preview,
    connection,
    maxTextChars,
    typing,
    visitorOnline,
    openRemoved,
    unreadTotal,
    loadList,
    refreshListSoon,
    contactTagsChanged,
    open,
    merge,
    catchUp,
    sendText,
    sendFile,
    flush,
    retry,
    cancel,
    act,
    transfer,
    snooze,
    openPreview,
    closePreview,
    handlers,
    resumeEntries,
    reconnected,
    setAlerts,
    reset,
  };
});
