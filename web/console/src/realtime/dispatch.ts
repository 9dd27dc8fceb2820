// One table from server events to store actions: an exhaustive switch, so a new event type in
// server/src/realtime/events.ts does not compile until the console decides what to do with it.
// The conversations store (stores/conversations.ts) is the one consumer in the app.
import type {
  AgentAvailability,
  ConversationView,
  MessageView,
  ServerEvent,
} from '../../../../server/src/realtime/events.ts';

export type ReadEvent = Extract<ServerEvent, { type: 'read' }>;
export type TypingEvent = Extract<ServerEvent, { type: 'typing' }>;

export interface RealtimeHandlers {
  message(message: MessageView): void;
  conversation(conversation: ConversationView): void;
  read(event: ReadEvent): void;
  typing(event: TypingEvent): void;
  /** The visitor has (or no longer has) the chat open. */
  visitorPresence(conversationId: string, online: boolean): void;
  /** The conversation left this agent's view: drop it. */
  removed(conversationId: string): void;
  /** The agent's teams changed: what the lists show may have changed. */
  accessChanged(): void;
  /** A colleague chose a status (online, busy, away, offline). */
  availability?(userId: string, status: AgentAvailability): void;
  /** A colleague's console connected (online/away) or is gone (offline). */
  agentPresence?(userId: string, connected: boolean): void;
}

function isAgentView(c: unknown): c is ConversationView {
  return typeof c === 'object' && c !== null && 'contact' in c;
}

export function dispatchEvent(event: ServerEvent, handlers: RealtimeHandlers): void {
  switch (event.type) {
    case 'message':
      handlers.message(event.message);
      return;
    case 'conversation':
      if (isAgentView(event.conversation)) handlers.conversation(event.conversation);
      return;
    case 'read':
      handlers.read(event);
      return;
    case 'typing':
      handlers.typing(event);
      return;
    case 'visitor_presence':
      handlers.visitorPresence(event.conversationId, event.online);
      return;
    case 'conversation_removed':
      handlers.removed(event.conversationId);
      return;
    case 'access_changed':
      handlers.accessChanged();
      return;
    case 'availability':
      handlers.availability?.(event.userId, event.status);
      return;
    case 'presence':
      handlers.agentPresence?.(event.userId, event.status !== 'offline');
      return;
    // The socket itself handles `ready`; the console sends over HTTP, so `ack`/`ok` never
    // come; `resumed` only closes a replay whose messages already went through `message`;
    // errors of frames we did not send are nothing to act on.
    case 'ready':
    case 'ack':
    case 'resumed':
    case 'ok':
    case 'pong':
    case 'error':
      return;
    default: {
      const unhandled: never = event;
      return unhandled;
    }
  }
}
