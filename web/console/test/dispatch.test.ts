import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../../server/src/realtime/events.ts';
import { dispatchEvent, type RealtimeHandlers } from '../src/realtime/dispatch.ts';

function recorder() {
  const calls: string[] = [];
  const handlers: RealtimeHandlers = {
    message: (m) => calls.push(`message ${m.conversationId}#${m.seq}`),
    conversation: (c) => calls.push(`conversation ${c.id} ${c.status}`),
    read: (id, seq) => calls.push(`read ${id} ${seq}`),
  };
  return { calls, handlers };
}

const message = {
  id: 'm1',
  conversationId: 'c1',
  seq: 7,
  clientId: null,
  senderType: 'visitor',
  senderId: null,
  senderName: null,
  kind: 'text',
  text: 'hi',
  private: false,
  attachment: null,
  event: null,
  recalled: false,
  editedAt: null,
  createdAt: '2026-01-01T00:00:00.000Z',
} as const;

describe('the realtime dispatcher', () => {
  it('routes messages, agent conversation updates and read marks to their handlers', () => {
    const { calls, handlers } = recorder();
    dispatchEvent({ type: 'message', message }, handlers);
    dispatchEvent(
      {
        type: 'conversation',
        conversation: {
          id: 'c1',
          channelId: 'ch',
          contact: { id: 'k', name: null, email: null, verified: false },
          teamId: null,
          assignee: null,
          status: 'resolved',
          snoozedUntil: null,
          priority: 'normal',
          lastSeq: 7,
          lastMessagePreview: 'hi',
          lastActivityAt: 'x',
          visitorReadSeq: 0,
          firstResponseAt: null,
          resolvedAt: null,
          createdAt: 'x',
        },
      },
      handlers,
    );
    dispatchEvent(
      { type: 'read', conversationId: 'c1', reader: { type: 'visitor', id: 'v' }, seq: 7 },
      handlers,
    );
    expect(calls).toEqual(['message c1#7', 'conversation c1 resolved', 'read c1 7']);
  });

  it('ignores the visitor view of a conversation and frames the console does not act on', () => {
    const { calls, handlers } = recorder();
    const ignored: ServerEvent[] = [
      {
        type: 'conversation',
        conversation: { id: 'c1', status: 'open', lastSeq: 1, assigneeName: null },
      } as ServerEvent,
      { type: 'pong' },
      { type: 'presence', userId: 'u', status: 'online' },
      { type: 'error', code: 'bad_frame', message: 'x' },
    ];
    for (const e of ignored) dispatchEvent(e, handlers);
    expect(calls).toEqual([]);
  });
});
