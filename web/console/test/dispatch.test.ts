// @vitest-environment happy-dom
// The one realtime dispatcher feeding the conversations store: server events in, the list,
// the thread, the badges and the read state out. Only the network (fetch) is stood in for.
import { flushPromises } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ServerEvent } from '../../../server/src/realtime/events.ts';
import { dispatchEvent, type RealtimeHandlers } from '../src/realtime/dispatch.ts';
import { useConversationsStore } from '../src/stores/conversations.ts';
import { C1, C2, conversation, fakeInboxServer, message } from './support/inbox-server.ts';

let server: ReturnType<typeof fakeInboxServer>;
beforeEach(() => {
  setActivePinia(createPinia());
  server = fakeInboxServer();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

async function openInbox() {
  const store = useConversationsStore();
  await store.loadList();
  await store.open(C1);
  return store;
}

const send = (store: ReturnType<typeof useConversationsStore>, e: ServerEvent) =>
  dispatchEvent(e, store.handlers);

describe('the realtime dispatcher', () => {
  it('routes each event type to its handler and ignores the visitor view and control frames', () => {
    const calls: string[] = [];
    const handlers: RealtimeHandlers = {
      message: (m) => calls.push(`message ${m.conversationId}#${m.seq}`),
      conversation: (c) => calls.push(`conversation ${c.id} ${c.status}`),
      read: (e) => calls.push(`read ${e.conversationId} ${e.reader.type} ${e.seq}`),
      typing: (e) => calls.push(`typing ${e.conversationId} ${e.typing}`),
      visitorPresence: (id, online) => calls.push(`visitor ${id} ${online}`),
      removed: (id) => calls.push(`removed ${id}`),
      accessChanged: () => calls.push('access'),
      reset: (id) => calls.push(`reset ${id}`),
      limits: (l) => calls.push(`limits ${l.maxTextChars}`),
    };
    const { unread: _u, readSeq: _r, ...view } = conversation(C1, { status: 'resolved' });
    const events: ServerEvent[] = [
      { type: 'message', message: message(C1, 7) },
      { type: 'conversation', conversation: view },
      { type: 'read', conversationId: C1, reader: { type: 'visitor', id: 'v' }, seq: 7 },
      {
        type: 'typing',
        conversationId: C1,
        who: { type: 'visitor', id: 'v', name: null },
        typing: true,
        expiresInMs: 5000,
      },
      // The visitor's view of a conversation (no contact) is not for the console.
      {
        type: 'conversation',
        conversation: {
          id: C1,
          status: 'open',
          lastSeq: 1,
          assigneeName: null,
          agentReadSeq: 0,
          createdAt: 'x',
        },
      },
      { type: 'pong' },
      { type: 'presence', userId: 'u', status: 'online' },
      { type: 'error', code: 'bad_frame', message: 'x' },
      { type: 'resumed', conversationId: C1, lastSeq: 7, replayed: 0 },
      { type: 'visitor_presence', conversationId: C1, online: true },
      { type: 'conversation_removed', conversationId: C1, reason: 'reassigned' },
      { type: 'access_changed', teamIds: [] },
      { type: 'resumed', conversationId: C2, lastSeq: 3, replayed: 0, reset: true },
      {
        type: 'ready',
        connectionId: 'c',
        role: 'agent',
        subjectId: 'u',
        limits: {
          maxTextChars: 300,
          maxFrameBytes: 68096,
          maxResumeEntries: 500,
          framesPerSecond: 20,
          framesBurst: 40,
          maxSendsInFlight: 32,
          maxAttachmentBytes: 20971520,
        },
      },
    ];
    for (const e of events) dispatchEvent(e, handlers);
    expect(calls).toEqual([
      `message ${C1}#7`,
      `conversation ${C1} resolved`,
      `read ${C1} visitor 7`,
      `typing ${C1} true`,
      `visitor ${C1} true`,
      `removed ${C1}`,
      'access',
      `reset ${C2}`,
      'limits 300',
    ]);
  });
});

describe('the conversations store fed by the dispatcher', () => {
  it('keeps the thread ordered by seq whatever order events arrive in, without doubles', async () => {
    const store = await openInbox();
    const [m1, m2, m3] = [message(C1, 1), message(C1, 2), message(C1, 3)];
    for (const m of [m3, m1, m2, m3, m1]) send(store, { type: 'message', message: m });
    expect(store.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    // Messages of other conversations do not enter the open thread.
    send(store, { type: 'message', message: message(C2, 1) });
    expect(store.messages.map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('resumes from the highest CONTIGUOUS seq and fetches a hole the socket did not fill', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const [m1, m2, m3, m4, m5] = [1, 2, 3, 4, 5].map((n) => message(C1, n));
    server.state.messages = [m1!, m2!, m3!];
    const store = await openInbox();
    expect(store.resumeEntries()).toEqual([{ conversationId: C1, lastSeq: 3 }]);
    // Seq 5 arrives (e.g. our own reply's HTTP answer) while seq 4 is not here yet.
    server.state.messages.push(m4!, m5!);
    send(store, { type: 'message', message: m5! });
    expect(store.messages.map((m) => m.seq)).toEqual([1, 2, 3, 5]);
    // A reconnect now would resume from 3, not 5: seq 4 cannot be skipped.
    expect(store.resumeEntries()).toEqual([{ conversationId: C1, lastSeq: 3 }]);
    // Still missing after a moment: the range after 3 is fetched.
    await vi.advanceTimersByTimeAsync(1100);
    expect(server.state.requests.filter((r) => r.url.includes('afterSeq=3'))).toHaveLength(1);
    expect(store.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(store.resumeEntries()).toEqual([{ conversationId: C1, lastSeq: 5 }]);
  });

  it('a hole filled by the socket in time is not fetched', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    server.state.messages = [message(C1, 1)];
    const store = await openInbox();
    send(store, { type: 'message', message: message(C1, 3) });
    send(store, { type: 'message', message: message(C1, 2) });
    await vi.advanceTimersByTimeAsync(1100);
    expect(server.state.requests.filter((r) => r.url.includes('afterSeq'))).toEqual([]);
    expect(store.resumeEntries()).toEqual([{ conversationId: C1, lastSeq: 3 }]);
  });

  it('reloads the open thread when a resume says the conversation ends below what it holds', async () => {
    server.state.messages = [1, 2, 3, 4].map((n) => message(C1, n));
    const store = await openInbox();
    expect(store.messages).toHaveLength(4);
    server.state.messages = server.state.messages.slice(0, 2); // a restored database
    send(store, { type: 'resumed', conversationId: C1, lastSeq: 2, replayed: 0, reset: true });
    await flushPromises();
    expect(store.messages.map((m) => m.seq)).toEqual([1, 2]);
  });

  it('replaces the optimistic copy with the server copy matched by client id', async () => {
    const store = await openInbox();
    let release!: () => void;
    server.state.hold = new Promise<void>((r) => (release = r));
    const item = store.sendText(C1, '  您好，请稍等  ', false)!;
    await flushPromises();
    expect(store.pending.map((p) => [p.text, p.state])).toEqual([['您好，请稍等', 'sending']]);
    expect(store.messages).toEqual([]);

    // The socket brings the committed message before the HTTP answer.
    const committed = server.stored('您好，请稍等')[0]!;
    expect(committed.clientId).toBe(item.clientId);
    send(store, { type: 'message', message: committed });
    expect(store.pending).toEqual([]);
    expect(store.messages.map((m) => m.text)).toEqual(['您好，请稍等']);

    release();
    await flushPromises();
    expect(store.pending).toEqual([]);
    expect(store.messages.filter((m) => m.text === '您好，请稍等')).toHaveLength(1);
    expect(server.sends()).toHaveLength(1);
  });

  it('never gives the open conversation an unread badge; others count, and so does the title', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    server.state.conversations = [conversation(C1, { unread: 2 }), conversation(C2)];
    const store = await openInbox();
    expect(store.list.find((c) => c.id === C1)?.unread).toBe(0);

    send(store, { type: 'message', message: message(C1, 1, { createdAt: '2026-03-01T09:00:00.000Z' }) });
    send(store, { type: 'message', message: message(C2, 1, { createdAt: '2026-03-01T09:01:00.000Z' }) });
    send(store, { type: 'message', message: message(C2, 2, { createdAt: '2026-03-01T09:02:00.000Z' }) });
    expect(store.list.map((c) => [c.id, c.unread])).toEqual([
      [C2, 2], // newest activity first
      [C1, 0],
    ]);
    expect(store.unreadTotal).toBe(2);

    // The open conversation is marked read on the server, so a refetch agrees.
    await vi.advanceTimersByTimeAsync(500);
    expect(server.state.requests.filter((r) => r.url.endsWith('/read'))).toEqual([
      { method: 'POST', url: `/api/v1/conversations/${C1}/read`, body: { seq: 1 } },
    ]);
    server.state.conversations = [conversation(C1, { unread: 1 }), conversation(C2, { unread: 2 })];
    await store.loadList();
    expect(store.list.find((c) => c.id === C1)?.unread).toBe(0);
  });

  it('shows the visitor’s read mark, conversation changes and typing on the open conversation', async () => {
    const store = await openInbox();
    send(store, { type: 'read', conversationId: C1, reader: { type: 'visitor', id: 'v' }, seq: 4 });
    send(store, { type: 'read', conversationId: C1, reader: { type: 'agent', id: 'a' }, seq: 9 });
    expect(store.current?.visitorReadSeq).toBe(4);

    const {
      unread: _u,
      readSeq: _r,
      ...view
    } = conversation(C1, {
      status: 'resolved',
      assignee: { id: '7d1c0f0e-0000-4000-8000-000000000002', displayName: 'Bo' },
    });
    send(store, { type: 'conversation', conversation: view });
    expect(store.current).toMatchObject({ status: 'resolved', assignee: { displayName: 'Bo' } });
    expect(store.list.find((c) => c.id === C1)?.status).toBe('resolved');

    send(store, {
      type: 'typing',
      conversationId: C1,
      who: { type: 'visitor', id: 'v', name: '王小明' },
      typing: true,
      expiresInMs: 5000,
    });
    expect(store.typing[C1]?.name).toBe('王小明');
    send(store, { type: 'message', message: message(C1, 5) });
    expect(store.typing[C1]).toBeUndefined();
    // An indicator nobody refreshes goes by itself.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    send(store, {
      type: 'typing',
      conversationId: C1,
      who: { type: 'visitor', id: 'v', name: '王小明' },
      typing: true,
      expiresInMs: 5000,
    });
    vi.advanceTimersByTime(4900);
    expect(store.typing[C1]).toBeDefined();
    vi.advanceTimersByTime(200);
    expect(store.typing[C1]).toBeUndefined();
  });

  it('drops a conversation that left the agent’s view, and shows whether its visitor is online', async () => {
    const store = await openInbox();
    send(store, { type: 'visitor_presence', conversationId: C1, online: true });
    expect(store.visitorOnline[C1]).toBe(true);
    send(store, { type: 'message', message: message(C1, 1) });
    send(store, { type: 'conversation_removed', conversationId: C1, reason: 'reassigned' });
    expect(store.list.map((c) => c.id)).toEqual([C2]);
    expect(store.current).toBeNull();
    expect(store.messages).toEqual([]);
    expect(store.openRemoved).toBe(true);
    await store.open(C2);
    expect(store.openRemoved).toBe(false);
  });

  it('alerts about a new conversation and a visitor message, not about the agent’s own', async () => {
    const store = await openInbox();
    const alerts: string[] = [];
    store.setAlerts({
      newConversation: (c) => alerts.push(`new ${c.id}`),
      newMessage: (m) => alerts.push(`message ${m.conversationId}#${m.seq}`),
    });
    const C3 = '00000000-0000-4000-8000-0000000000c3';
    const { unread: _u, readSeq: _r, ...view } = conversation(C3);
    send(store, { type: 'conversation', conversation: view });
    send(store, { type: 'message', message: message(C3, 1) });
    send(store, { type: 'message', message: message(C1, 1, { senderType: 'agent' }) });
    expect(alerts).toEqual([`new ${C3}`, `message ${C3}#1`]);
  });

  it('asks the server to replay the open conversation after the last seq shown', async () => {
    const store = await openInbox();
    expect(store.resumeEntries()).toEqual([]);
    send(store, { type: 'message', message: message(C1, 1) });
    send(store, { type: 'message', message: message(C1, 2) });
    expect(store.resumeEntries()).toEqual([{ conversationId: C1, lastSeq: 2 }]);
    // Our own reply acknowledged over HTTP while the socket was down: seq 3 is still missing, so
    // the replay starts after 2, not after 4.
    send(store, { type: 'message', message: message(C1, 4, { senderType: 'agent' }) });
    expect(store.resumeEntries()).toEqual([{ conversationId: C1, lastSeq: 2 }]);
    server.state.messages = [message(C1, 3, { text: 'sent while we were away' })];
    await store.catchUp();
    expect(store.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(store.resumeEntries()).toEqual([{ conversationId: C1, lastSeq: 4 }]);
  });
});
