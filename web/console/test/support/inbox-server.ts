// A small in-memory stand-in for the conversation API, answering the console's fetch calls the
// way the real server does (seq per conversation, idempotent sends by client id), so the store
// and components are tested with their real API client. It can drop off the network, and can
// lose an answer after committing (what a cut connection does).
import { vi } from 'vitest';
import type { CannedReply, Contact, Conversation, Message } from '../../src/api/types.ts';

export const C1 = '00000000-0000-4000-8000-0000000000c1';
export const C2 = '00000000-0000-4000-8000-0000000000c2';
export const AGENT = {
  id: '7d1c0f0e-0000-4000-8000-000000000001',
  username: 'ann',
  displayName: 'Ann',
  role: 'agent' as const,
  teamIds: [],
  mustChangePassword: false,
  disabled: false,
  authSource: 'local' as const,
  totpEnabled: false,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

export function conversation(id: string, patch: Partial<Conversation> = {}): Conversation {
  return {
    id,
    channelId: '00000000-0000-4000-8000-0000000000aa',
    contact: {
      id: `${id.slice(0, -2)}f${id.slice(-1)}`,
      name: '王小明',
      email: null,
      verified: false,
      vip: false,
    },
    teamId: null,
    assignee: null,
    status: 'open',
    snoozedUntil: null,
    priority: 'normal',
    lastSeq: 0,
    lastMessagePreview: '',
    lastActivityAt: '2026-03-01T08:00:00.000Z',
    visitorReadSeq: 0,
    firstResponseAt: null,
    resolvedAt: null,
    createdAt: '2026-03-01T08:00:00.000Z',
    sourcePage: null,
    unread: 0,
    readSeq: 0,
    ...patch,
  };
}

let ids = 0;
export function message(conversationId: string, seq: number, patch: Partial<Message> = {}): Message {
  return {
    id: `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}`,
    conversationId,
    seq,
    clientId: null,
    senderType: 'visitor',
    senderId: null,
    senderName: null,
    kind: 'text',
    text: `message ${seq}`,
    private: false,
    attachment: null,
    event: null,
    recalled: false,
    editedAt: null,
    createdAt: new Date(Date.UTC(2026, 2, 1, 8, seq)).toISOString(),
    ...patch,
  };
}

export function fakeInboxServer() {
  const state = {
    conversations: [conversation(C1), conversation(C2)],
    messages: [] as Message[],
    canned: [] as CannedReply[],
    /** Conversations not in the inbox list (a customer's earlier ones). */
    others: [] as Conversation[],
    contacts: {} as Record<string, { masked: Contact; revealed: Contact }>,
    requests: [] as { method: string; url: string; body: unknown }[],
    /** fetch fails as on a cut network. */
    offline: false,
    /** The next send is committed but its answer is lost. */
    loseNextAnswer: false,
    /** Sends are committed, then wait for this before answering. */
    hold: null as Promise<void> | null,
  };
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  vi.stubGlobal('fetch', async (input: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    const body = init?.body ? (JSON.parse(init.body as string) as Record<string, unknown>) : undefined;
    if (state.offline) throw new TypeError('Failed to fetch');
    state.requests.push({ method, url: input, body });
    const url = new URL(input, 'http://console.test');
    const parts = url.pathname.split('/').slice(4); // after /api/v1/conversations
    if (url.pathname === '/api/v1/canned-replies') return json(200, { cannedReplies: state.canned });
    if (url.pathname === '/api/v1/conversations') {
      const contactId = url.searchParams.get('contactId');
      const listed = contactId
        ? [...state.conversations, ...state.others].filter((c) => c.contact.id === contactId)
        : state.conversations;
      return json(200, { conversations: listed, nextCursor: null });
    }
    if (url.pathname.startsWith('/api/v1/contacts/')) {
      const [, , , , contactId, action] = url.pathname.split('/');
      const contact = state.contacts[contactId!];
      if (!contact) return json(404, { error: { code: 'not_found', message: 'none' } });
      if (action === 'reveal' && method === 'POST') return json(200, contact.revealed);
      if (method === 'PATCH') {
        const patch = body as { tags?: string[]; setAttributes?: Record<string, unknown> };
        for (const view of [contact.masked, contact.revealed]) {
          if (patch.tags) view.tags = patch.tags;
          for (const [k, v] of Object.entries(patch.setAttributes ?? {})) {
            if (v === null) delete view.attributes[k];
            else view.attributes[k] = v;
          }
        }
      }
      return json(200, contact.masked);
    }
    const c = state.conversations.find((x) => x.id === parts[0]);
    const other = state.others.find((x) => x.id === parts[0]);
    if (other && parts.length === 1) return json(200, other);
    if (other && parts[1] === 'messages') {
      return json(200, { messages: state.messages.filter((m) => m.conversationId === other.id) });
    }
    if (!c) return json(404, { error: { code: 'not_found', message: 'none' } });
    if (parts.length === 1) return json(200, c);
    if (parts[1] === 'read') return json(200, { readSeq: body?.seq });
    if (parts[1] === 'messages' && method === 'GET') {
      const after = Number(url.searchParams.get('afterSeq') ?? 0);
      return json(200, {
        messages: state.messages.filter((m) => m.conversationId === c.id && m.seq > after),
      });
    }
    if (parts[1] === 'messages' && method === 'POST') {
      const clientId = String(body?.clientId);
      let m = state.messages.find((x) => x.conversationId === c.id && x.clientId === clientId);
      const duplicate = m !== undefined;
      // A client id belongs to its sender: another sender's is a conflict (as the server says).
      if (m && (m.senderType !== 'agent' || m.senderId !== AGENT.id)) {
        return json(409, {
          error: { code: 'conflict', message: 'clientId: already used by another sender', field: 'clientId' },
        });
      }
      if (!m) {
        m = message(c.id, ++c.lastSeq, {
          clientId,
          senderType: 'agent',
          senderId: AGENT.id,
          senderName: AGENT.displayName,
          text: String(body?.text),
          private: body?.private === true,
        });
        state.messages.push(m);
      }
      if (state.hold) await state.hold; // committed; the answer is on its way
      if (state.loseNextAnswer) {
        state.loseNextAnswer = false;
        throw new TypeError('network changed');
      }
      return json(duplicate ? 200 : 201, {
        clientId,
        conversationId: c.id,
        messageId: m.id,
        seq: m.seq,
        createdAt: m.createdAt,
        duplicate,
        message: m,
      });
    }
    return json(404, { error: { code: 'not_found', message: 'none' } });
  });

  /** Messages the server stored with this text. */
  const stored = (text: string) => state.messages.filter((m) => m.text === text);
  const sends = () => state.requests.filter((r) => r.method === 'POST' && r.url.endsWith('/messages'));
  return { state, stored, sends };
}
