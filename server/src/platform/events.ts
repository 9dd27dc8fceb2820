// The in-process events bus: services announce what they committed, the realtime hub and the
// PostgreSQL NOTIFY bridge listen. Services never touch sockets; the hub never touches SQL.
import type {
  AgentAvailability,
  ConversationView,
  MessageView,
  VisitorConversationView,
} from '../realtime/events.ts';

/** Who may receive a conversation's events. */
export interface ConversationRouting {
  conversationId: string;
  contactId: string;
  teamId: string | null;
  assigneeId: string | null;
}

/** Messages committed in one conversation (ascending, consecutive seq), with its state after. */
export interface CommittedBatch {
  routing: ConversationRouting;
  /** The agent view of every message, private notes included; the hub filters per reader. */
  messages: MessageView[];
  /** Present when the conversation's state changed (assignment, status, priority …). */
  conversation?: { agent: ConversationView; visitor: VisitorConversationView } | undefined;
  /** Readers who lost sight of the conversation in this batch (transfer): they are told once. */
  formerRouting?: { teamId: string | null; assigneeId: string | null } | undefined;
}

/** `agent:<userId>` or `visitor:<conversationId>` (with the conversation's routing). */
export interface PresenceEntry {
  subject: string;
  status: 'online' | 'away' | 'offline';
  meta?: { teamId: string | null; assigneeId: string | null } | undefined;
}

/**
 * What changed in the knowledge base (modules/knowledge): matchers on every replica reload the
 * named entries (`entries`: an id that no longer exists was deleted), everything (`all`: imports,
 * category moves), or the synonym groups or dictionary.
 */
export type KnowledgeChange =
  { what: 'entries'; ids: string[] } | { what: 'all' } | { what: 'synonyms' } | { what: 'dictionary' };

export type EphemeralEvent =
  | {
      kind: 'typing';
      routing: ConversationRouting;
      who: { type: 'visitor' | 'agent'; id: string; name: string | null };
      typing: boolean;
    }
  | {
      kind: 'read';
      routing: ConversationRouting;
      reader: { type: 'visitor' | 'agent'; id: string };
      seq: number;
    }
  /** Presence as one replica sees it (see realtime/presence.ts); expires after ttlMs. */
  | { kind: 'presence_sync'; replica: string; ttlMs: number; entries: PresenceEntry[] }
  /** These users' teams (or role) changed: open sockets re-read them (every replica). */
  | { kind: 'access'; userIds: string[] }
  /** An agent set their availability (modules/availability): every agent socket hears it. */
  | { kind: 'availability'; userId: string; status: AgentAvailability }
  /** Routing rules or a website's default team changed: every replica reloads its rule cache. */
  | { kind: 'routing_rules' }
  /** The knowledge base changed (committed): every replica's matcher follows. */
  | { kind: 'knowledge'; change: KnowledgeChange };

export interface EventBus {
  committed(batch: CommittedBatch): void;
  ephemeral(event: EphemeralEvent): void;
  onCommitted(listener: (batch: CommittedBatch) => void): void;
  onEphemeral(listener: (event: EphemeralEvent) => void): void;
}

export function createEventBus(): EventBus {
  const committed: ((b: CommittedBatch) => void)[] = [];
  const ephemeral: ((e: EphemeralEvent) => void)[] = [];
  return {
    committed(batch) {
      for (const l of committed) l(batch);
    },
    ephemeral(event) {
      for (const l of ephemeral) l(event);
    },
    onCommitted(l) {
      committed.push(l);
    },
    onEphemeral(l) {
      ephemeral.push(l);
    },
  };
}
