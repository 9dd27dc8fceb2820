// Rows → API views, and the visitor's projection of them (no private notes, no recalled text,
// no internal ids in system events).
import { maskEmail } from '../../platform/crypto/pii.ts';
import type {
  ConversationStatus,
  ConversationView,
  MessageView,
  Priority,
  VisitorConversationView,
} from '../../realtime/events.ts';
import type { ConversationRow, MessageRow } from './conversations.repository.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toMessageView(r: MessageRow): MessageView {
  return {
    id: r.id,
    conversationId: r.conversation_id,
    seq: r.seq,
    clientId: r.client_id,
    senderType: r.sender_type as MessageView['senderType'],
    senderId: r.sender_id,
    senderName: r.sender_user_name ?? null,
    kind: r.kind as MessageView['kind'],
    text: r.body,
    private: r.private,
    attachment:
      r.attachment_id && r.attachment_file_name && r.attachment_content_type
        ? {
            id: r.attachment_id,
            fileName: r.attachment_file_name,
            contentType: r.attachment_content_type,
            sizeBytes: r.attachment_size_bytes ?? 0,
          }
        : null,
    event: (r.event as Record<string, unknown> | null) ?? null,
    recalled: r.recalled_at !== null,
    editedAt: iso(r.edited_at),
    createdAt: r.created_at.toISOString(),
    masked: r.masked,
  };
}

/** What event fields a visitor may see, per system event type. */
const VISITOR_EVENT_FIELDS: Record<string, readonly string[]> = {
  assigned: ['assigneeName'],
  transferred: ['assigneeName'],
  status_changed: ['status'],
  message_recalled: ['messageId'],
  message_edited: ['messageId', 'text'],
};

/** The visitor's view of a message, or null when the visitor must not see it at all. */
export function toVisitorMessage(m: MessageView): MessageView | null {
  if (m.private) return null;
  let event: Record<string, unknown> | null = null;
  if (m.event) {
    const type = String(m.event.type);
    const allowed = VISITOR_EVENT_FIELDS[type];
    if (!allowed) return null; // internal-only system events (priority …)
    event = { type };
    for (const f of allowed) if (m.event[f] !== undefined) event[f] = m.event[f];
  }
  return {
    ...m,
    // A visitor sees their own id on their messages, never a staff user's id (agent messages and
    // the system lines an agent's action wrote).
    senderId: m.senderType === 'visitor' ? m.senderId : null,
    text: m.recalled ? '' : m.text,
    attachment: m.recalled ? null : m.attachment,
    event,
  };
}

/** A customer tagged "VIP" (any letter case) is marked in every agent's conversation list. */
export function isVip(tags: readonly string[]): boolean {
  return tags.some((t) => t.toLowerCase() === 'vip');
}

export function toConversationView(r: ConversationRow): ConversationView {
  return {
    id: r.id,
    channelId: r.channel_id,
    contact: {
      id: r.contact_id,
      // The name agents address the customer by; the contact API masks email/phone/attributes.
      name: r.contact_name,
      email: r.contact_email === null ? null : maskEmail(r.contact_email),
      verified: r.contact_external_id !== null,
      vip: isVip(r.contact_tags),
    },
    teamId: r.team_id,
    assignee: r.assignee_id ? { id: r.assignee_id, displayName: r.assignee_name ?? '' } : null,
    status: r.status as ConversationStatus,
    snoozedUntil: iso(r.snoozed_until),
    priority: r.priority as Priority,
    lastSeq: r.last_seq,
    lastMessagePreview: r.last_message_preview,
    lastActivityAt: r.last_activity_at.toISOString(),
    visitorReadSeq: r.visitor_read_seq,
    firstResponseAt: iso(r.first_response_at),
    resolvedAt: iso(r.resolved_at),
    createdAt: r.created_at.toISOString(),
    sourcePage: r.source_url
      ? { url: r.source_url, ...(r.source_title ? { title: r.source_title } : {}) }
      : null,
  };
}

export function toVisitorConversationView(r: ConversationRow, agentReadSeq: number): VisitorConversationView {
  return {
    id: r.id,
    status: r.status as ConversationStatus,
    lastSeq: r.last_public_seq,
    assigneeName: r.assignee_name ?? null,
    agentReadSeq: Math.min(agentReadSeq, r.last_public_seq),
    createdAt: r.created_at.toISOString(),
  };
}
