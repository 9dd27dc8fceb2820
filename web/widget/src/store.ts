// The visitor's view of one conversation: server messages keyed by seq, our own messages not
// yet committed keyed by client id (an optimistic copy is replaced by the server's, matched
// by client id), the agent's read mark for delivery state, and the visitor's read mark for
// the unread count.
import type { MessageView } from '../../../server/src/realtime/events.ts';
import type { Messages } from './i18n.ts';
import type { ChatItem, Delivery } from './render.ts';

export interface PendingMessage {
  clientId: string;
  kind: 'text' | 'image' | 'file';
  text: string;
  createdAt: string;
  failed: boolean;
  localPreview?: string;
  fileName?: string;
}

export function createChatStore() {
  const bySeq = new Map<number, MessageView>();
  const pending = new Map<string, PendingMessage>();
  let agentReadSeq = 0;
  let readSeq = 0;
  /**
   * The protocol's lastSeq: the highest seq up to which the visitor has every message they may
   * see (docs/PROTOCOL.md, "Client rules"). A visitor never gets private notes, so a hole may be
   * one: only the server can say so (`resumed.lastSeq` after a replay covering it).
   */
  let complete = 0;

  function advance() {
    while (bySeq.has(complete + 1)) complete++;
  }
  function highest(): number {
    let max = 0;
    for (const s of bySeq.keys()) if (s > max) max = s;
    return max;
  }

  return {
    /** Where a resume continues from: the highest seq with nothing missing before it. */
    get lastSeq(): number {
      return complete;
    },
    /** A seq was received above a hole: the range (lastSeq, that seq) must be fetched. */
    hasGap(): boolean {
      return highest() > complete;
    },
    /** The server replayed everything up to seq (holes below it are private notes). */
    completeThrough(seq: number) {
      complete = Math.max(complete, seq);
      advance();
    },
    /** The conversation ends at seq (the server reset a resume from beyond it): drop the rest. */
    resetTo(seq: number) {
      for (const s of [...bySeq.keys()]) if (s > seq) bySeq.delete(s);
      complete = seq;
      advance();
    },
    get agentReadSeq() {
      return agentReadSeq;
    },
    get readSeq() {
      return readSeq;
    },

    /** A server message (live, replayed or from an upload's ack). Returns true when new. */
    receive(m: MessageView): boolean {
      if (m.clientId) pending.delete(m.clientId);
      // Recall and edit arrive as system events naming the message they change.
      const target = typeof m.event?.messageId === 'string' ? m.event.messageId : null;
      if (target) {
        for (const [seq, old] of bySeq) {
          if (old.id !== target) continue;
          if (m.event?.type === 'message_recalled')
            bySeq.set(seq, { ...old, recalled: true, text: '', attachment: null });
          if (m.event?.type === 'message_edited' && typeof m.event.text === 'string')
            bySeq.set(seq, { ...old, text: m.event.text });
        }
      }
      const known = bySeq.get(m.seq);
      bySeq.set(m.seq, m);
      advance();
      return known === undefined;
    },

    addPending(p: PendingMessage) {
      // A resend of something the server already has must not show twice.
      for (const m of bySeq.values()) if (m.clientId === p.clientId) return;
      pending.set(p.clientId, p);
    },
    markFailed(clientId: string, failed = true) {
      const p = pending.get(clientId);
      if (p) p.failed = failed;
    },
    dropPending(clientId: string) {
      pending.delete(clientId);
    },
    pendingOf(clientId: string) {
      return pending.get(clientId);
    },

    agentRead(seq: number) {
      agentReadSeq = Math.max(agentReadSeq, seq);
    },
    visitorRead(seq: number) {
      readSeq = Math.max(readSeq, seq);
    },

    /** Messages from the other side the visitor has not seen yet. */
    unread(): number {
      let n = 0;
      for (const m of bySeq.values()) {
        if (m.seq > readSeq && m.senderType !== 'visitor' && m.kind !== 'system') n++;
      }
      return n;
    },

    /** What the list shows, in order: committed messages by seq, then ours still on the way. */
    items(t: Messages): ChatItem[] {
      const out: ChatItem[] = [];
      for (const m of [...bySeq.values()].sort((a, b) => a.seq - b.seq)) {
        const text = m.kind === 'system' ? systemText(m, t) : m.text;
        if (m.kind === 'system' && !text) continue;
        const mine = m.senderType === 'visitor';
        let delivery: Delivery | null = null;
        if (mine) delivery = m.seq <= agentReadSeq ? 'read' : 'sent';
        out.push({
          key: `s${m.seq}`,
          seq: m.seq,
          clientId: m.clientId,
          mine,
          senderName: m.senderName,
          kind: m.kind,
          text,
          attachment: m.attachment,
          recalled: m.recalled,
          createdAt: m.createdAt,
          delivery,
        });
      }
      for (const p of [...pending.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
        out.push({
          key: `c${p.clientId}`,
          seq: null,
          clientId: p.clientId,
          mine: true,
          senderName: null,
          kind: p.kind,
          text: p.fileName ?? p.text,
          attachment: null,
          recalled: false,
          createdAt: p.createdAt,
          delivery: p.failed ? 'failed' : 'sending',
          ...(p.localPreview ? { localPreview: p.localPreview } : {}),
        });
      }
      return out;
    },
  };
}

export type ChatStore = ReturnType<typeof createChatStore>;

/** What a system event means to the visitor; empty for events the list need not show. */
function systemText(m: MessageView, t: Messages): string {
  const e = m.event ?? {};
  const name = typeof e.assigneeName === 'string' ? e.assigneeName : '';
  if ((e.type === 'assigned' || e.type === 'transferred') && name) return t.assigned.replace('{name}', name);
  if (e.type === 'status_changed' && e.status === 'resolved') return t.resolved;
  if (e.type === 'message_recalled' || e.type === 'message_edited') return '';
  return m.text;
}
