// The visitor's conversation state and the offline queue: optimistic messages replaced by the
// server's copy (by client id), order by seq, resume point, unread and delivery state, and a
// queue that survives a reload and forgets only what the server acknowledged.
import { describe, expect, it } from 'vitest';
import type { MessageView } from '../../../server/src/realtime/events.ts';
import { MESSAGES } from '../src/i18n.ts';
import { createOutbox, newClientId, type KeyValueStore } from '../src/outbox.ts';
import { createChatStore } from '../src/store.ts';

const t = MESSAGES.en;

function msg(seq: number, over: Partial<MessageView> = {}): MessageView {
  return {
    id: `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    conversationId: '11111111-1111-4111-8111-111111111111',
    seq,
    clientId: null,
    senderType: 'agent',
    senderId: null,
    senderName: 'Ann',
    kind: 'text',
    text: `m${seq}`,
    private: false,
    attachment: null,
    event: null,
    recalled: false,
    editedAt: null,
    createdAt: new Date(2026, 0, 1, 0, 0, seq).toISOString(),
    ...over,
  };
}

function memoryStorage(): KeyValueStore & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

describe('chat store', () => {
  it('orders by seq whatever the arrival order, and resumes from the highest seq', () => {
    const s = createChatStore();
    s.receive(msg(3));
    s.receive(msg(1));
    s.receive(msg(2));
    s.receive(msg(2)); // a replayed duplicate
    expect(s.items(t).map((i) => i.text)).toEqual(['m1', 'm2', 'm3']);
    expect(s.lastSeq).toBe(3);
    expect(s.hasGap()).toBe(false);
  });

  it('lastSeq is the highest CONTIGUOUS seq: a message above a hole does not move it', () => {
    const s = createChatStore();
    s.receive(msg(1));
    s.receive(msg(2));
    // Our own upload's answer (seq 4) comes over HTTP before seq 3 reached the socket.
    s.receive(msg(4, { senderType: 'visitor', clientId: 'w-upload-01' }));
    expect(s.lastSeq).toBe(2);
    expect(s.hasGap()).toBe(true);
    // Resuming now would replay from 2: seq 3 is not lost. When it comes, lastSeq catches up.
    s.receive(msg(3));
    expect(s.lastSeq).toBe(4);
    expect(s.hasGap()).toBe(false);
  });

  it('a hole that is a private note is passed only when the server says the replay covered it', () => {
    const s = createChatStore();
    s.receive(msg(1));
    s.receive(msg(3)); // seq 2 was a private note between agents
    expect(s.lastSeq).toBe(1);
    expect(s.hasGap()).toBe(true);
    // The gap fill (resume from 1) answers resumed.lastSeq = 3: complete through 3.
    s.completeThrough(3);
    expect(s.lastSeq).toBe(3);
    expect(s.hasGap()).toBe(false);
    s.receive(msg(4));
    expect(s.lastSeq).toBe(4);
    // A trailing private note: complete through 6 although the last message seen is 4.
    s.completeThrough(6);
    s.receive(msg(7));
    expect(s.lastSeq).toBe(7);
  });

  it('a reset (the conversation ends below what we hold, e.g. after a restore) drops the rest', () => {
    const s = createChatStore();
    for (const n of [1, 2, 3, 4, 5]) s.receive(msg(n));
    s.resetTo(3);
    expect(s.lastSeq).toBe(3);
    expect(s.items(t).map((i) => i.seq)).toEqual([1, 2, 3]);
    // The new seq 4 is another message than the one dropped, and it is shown.
    s.receive(msg(4, { text: 'after the restore' }));
    expect(s.items(t).map((i) => i.text)).toEqual(['m1', 'm2', 'm3', 'after the restore']);
    expect(s.lastSeq).toBe(4);
  });

  it('replaces the optimistic copy by the server copy matched by client id (no doubles)', () => {
    const s = createChatStore();
    s.addPending({
      clientId: 'w-aaaaaaaaaa',
      kind: 'text',
      text: 'hi',
      createdAt: '2026-01-01T00:00:10Z',
      failed: false,
    });
    expect(s.items(t).map((i) => [i.text, i.delivery])).toEqual([['hi', 'sending']]);
    s.receive(msg(1, { clientId: 'w-aaaaaaaaaa', senderType: 'visitor', text: 'hi', senderName: null }));
    expect(s.items(t).map((i) => [i.text, i.delivery])).toEqual([['hi', 'sent']]);
    // A queued resend after a reload of something the server already has is not shown twice.
    s.addPending({
      clientId: 'w-aaaaaaaaaa',
      kind: 'text',
      text: 'hi',
      createdAt: '2026-01-01T00:00:10Z',
      failed: false,
    });
    expect(s.items(t)).toHaveLength(1);
  });

  it('marks own messages read when the agent read that far, and counts the agent’s unread ones', () => {
    const s = createChatStore();
    s.receive(msg(1, { senderType: 'visitor', clientId: 'w-1111111111' }));
    s.receive(msg(2));
    s.receive(msg(3));
    s.receive(msg(4, { kind: 'system', event: { type: 'assigned', assigneeName: 'Ann' }, text: '' }));
    expect(s.unread()).toBe(2);
    s.visitorRead(2);
    expect(s.unread()).toBe(1);
    expect(s.items(t)[0]!.delivery).toBe('sent');
    s.agentRead(1);
    expect(s.items(t)[0]!.delivery).toBe('read');
    expect(s.items(t)[3]!.text).toBe('Ann is now helping you');
  });

  it('applies recall events to the message they name', () => {
    const s = createChatStore();
    s.receive(msg(1));
    s.receive(
      msg(2, {
        kind: 'system',
        senderType: 'system',
        event: { type: 'message_recalled', messageId: msg(1).id },
      }),
    );
    const items = s.items(t);
    expect(items).toHaveLength(1);
    expect(items[0]!.recalled).toBe(true);
  });
});

describe('offline queue', () => {
  it('keeps messages across a reload until acknowledged, in order, without duplicates', () => {
    const storage = memoryStorage();
    const a = { clientId: newClientId(), text: 'first', createdAt: '2026-01-01T00:00:00Z' };
    const b = { clientId: newClientId(), text: 'second', createdAt: '2026-01-01T00:00:01Z' };
    const before = createOutbox(storage, 'q');
    before.add(a);
    before.add(b);
    before.add(a);
    const after = createOutbox(storage, 'q'); // the page was reloaded
    expect(after.all().map((m) => m.text)).toEqual(['first', 'second']);
    after.remove(a.clientId);
    expect(
      createOutbox(storage, 'q')
        .all()
        .map((m) => m.text),
    ).toEqual(['second']);
    after.remove(b.clientId);
    expect(storage.map.has('q')).toBe(false);
  });

  it('survives a corrupt entry and makes client ids the protocol accepts', () => {
    const storage = memoryStorage();
    storage.setItem('q', '{not json');
    expect(createOutbox(storage, 'q').all()).toEqual([]);
    storage.setItem('q', JSON.stringify([{ clientId: 'w-1234567890', text: 'ok' }, { nope: 1 }]));
    expect(createOutbox(storage, 'q').all()).toHaveLength(1);
    const ids = new Set(Array.from({ length: 50 }, newClientId));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_.:-]{8,64}$/);
  });
});
