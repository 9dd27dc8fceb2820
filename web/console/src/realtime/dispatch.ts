// One table from server events to store actions: an exhaustive switch, so a new event type in
// server/src/realtime/events.ts does not compile until the console decides what to do with it.
// The conversations store (stores/conversations.ts) is the one consumer in the app.
import type {
  ClientLimits,
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
  /** A resume was answered with `reset`: the conversation ends below what we hold. */
  reset(conversationId: string): void;
  /** The limits the server states on every `ready` (the composer's length counter). */
  limits(limits: ClientLimits): void;
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
    case 'resumed':
      if (event.reset) handlers.reset(event.conversationId);
      return;
    case 'ready':
      handlers.limits(event.limits);
      return;
    case 'availability':
      handlers.availability?.(event.userId, event.status);
      return;
    case 'presence':
      handlers.agentPresence?.(event.userId, event.status !== 'offline');
      return;
    // The console sends over HTTP, so `ack`/`ok` never come; errors of frames we did not send
    // are nothing to act on.
    case 'ack':
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
