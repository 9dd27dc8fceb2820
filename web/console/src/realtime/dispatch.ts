// One table from server events to store actions: an exhaustive switch, so a new event type in
// server/src/realtime/events.ts does not compile until the console decides what to do with it.
import type { ConversationView, MessageView, ServerEvent } from '../../../../server/src/realtime/events.ts';

export interface RealtimeHandlers {
  message(message: MessageView): void;
  conversation(conversation: ConversationView): void;
  read(conversationId: string, seq: number): void;
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
      handlers.read(event.conversationId, event.seq);
      return;
    // Not shown in the console yet (typing indicators, presence, conversation_removed and
    // access_changed — additive protocol events), or replies to frames the console does not
    // send (it sends over HTTP): nothing to do.
    case 'ready':
    case 'ack':
    case 'resumed':
    case 'typing':
    case 'presence':
    case 'conversation_removed':
    case 'access_changed':
    case 'visitor_presence':
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
