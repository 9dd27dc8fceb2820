// The realtime protocol: every frame a client may send and every event the server sends, as
// TypeBox schemas and the TypeScript types derived from them. docs/PROTOCOL.md describes them.
// The Vue console and the widget `import type { ServerEvent, ClientFrame } from '…/events.ts'`
// and dispatch on `type` with an exhaustive switch.
import { Type, type Static } from 'typebox';
import { MAX_RESUME_ENTRIES, SOURCE_TITLE_MAX_CHARS, SOURCE_URL_MAX_CHARS } from './text-rules.ts';

const Uuid = Type.String({ format: 'uuid' });
/** Client-generated message id (a UUID or any opaque string of 8–64 safe characters). */
const ClientId = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' });
const Ref = Type.Optional(Type.String({ maxLength: 64 }));
/** A seq as a client may send it: a safe integer (PostgreSQL bigint holds it; 1e308 it does not). */
const Seq = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

// ---------- shared payloads ----------

export const AttachmentView = Type.Object({
  id: Uuid,
  fileName: Type.String(),
  contentType: Type.String(),
  sizeBytes: Type.Integer(),
});
export type AttachmentView = Static<typeof AttachmentView>;

/**
 * The page a widget visitor was on when they started the conversation: the embedding page's
 * URL (http/https only) and title. Agents see it; visitors are never sent it.
 */
export const SourcePage = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: SOURCE_URL_MAX_CHARS,
      pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$',
    }),
    title: Type.Optional(Type.String({ maxLength: SOURCE_TITLE_MAX_CHARS })),
  },
  { additionalProperties: false },
);
export type SourcePage = Static<typeof SourcePage>;

export const MessageView = Type.Object({
  id: Uuid,
  conversationId: Uuid,
  seq: Type.Integer(),
  clientId: Type.Union([Type.String(), Type.Null()]),
  senderType: Type.Union([
    Type.Literal('visitor'),
    Type.Literal('agent'),
    Type.Literal('bot'),
    Type.Literal('system'),
  ]),
  senderId: Type.Union([Type.String(), Type.Null()]),
  senderName: Type.Union([Type.String(), Type.Null()]),
  kind: Type.Union([
    Type.Literal('text'),
    Type.Literal('image'),
    Type.Literal('file'),
    Type.Literal('system'),
  ]),
  /** Plain text; render it as text, never as HTML. Empty when recalled (visitor view). */
  text: Type.String(),
  private: Type.Boolean(),
  attachment: Type.Union([AttachmentView, Type.Null()]),
  /** For kind 'system': what happened, e.g. { type: 'assigned', assigneeName: 'Ann' }. */
  event: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  recalled: Type.Boolean(),
  editedAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  /**
   * Transcript masking: phone, ID-card or bank-card numbers in `text` are masked (the server
   * keeps the original encrypted; POST /api/v1/messages/:id/reveal with pii.reveal). Always
   * sent by this server; optional so older payloads still type-check.
   */
  masked: Type.Optional(Type.Boolean()),
});
export type MessageView = Static<typeof MessageView>;

export { MESSAGE_EDIT_WINDOW_MS } from './protocol-constants.ts';

/** An agent's chosen availability (modules/availability). Routing will build on it. */
export const AgentAvailabilitySchema = Type.Union([
  Type.Literal('online'),
  Type.Literal('busy'),
  Type.Literal('away'),
  Type.Literal('offline'),
]);
export type AgentAvailability = Static<typeof AgentAvailabilitySchema>;

export const ConversationStatus = Type.Union([
  Type.Literal('open'),
  Type.Literal('pending'),
  Type.Literal('resolved'),
  Type.Literal('snoozed'),
]);
export type ConversationStatus = Static<typeof ConversationStatus>;

export const Priority = Type.Union([
  Type.Literal('low'),
  Type.Literal('normal'),
  Type.Literal('high'),
  Type.Literal('urgent'),
]);
export type Priority = Static<typeof Priority>;

/** A conversation as agents see it. */
export const ConversationView = Type.Object({
  id: Uuid,
  channelId: Uuid,
  contact: Type.Object({
    id: Uuid,
    name: Type.Union([Type.String(), Type.Null()]),
    email: Type.Union([Type.String(), Type.Null()]),
    verified: Type.Boolean(),
    /** Tagged "VIP" (any letter case) on the contact. */
    vip: Type.Boolean(),
  }),
  teamId: Type.Union([Uuid, Type.Null()]),
  assignee: Type.Union([Type.Object({ id: Uuid, displayName: Type.String() }), Type.Null()]),
  status: ConversationStatus,
  snoozedUntil: Type.Union([Type.String(), Type.Null()]),
  priority: Priority,
  lastSeq: Type.Integer(),
  lastMessagePreview: Type.String(),
  lastActivityAt: Type.String(),
  visitorReadSeq: Type.Integer(),
  firstResponseAt: Type.Union([Type.String(), Type.Null()]),
  resolvedAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  /** Where a widget visitor came from (null: not reported). Never in the visitor's view. */
  sourcePage: Type.Union([SourcePage, Type.Null()]),
});
export type ConversationView = Static<typeof ConversationView>;

/** A conversation as its visitor sees it (no internal ids, no private activity). */
export const VisitorConversationView = Type.Object({
  id: Uuid,
  status: ConversationStatus,
  /** Highest seq the visitor can see. */
  lastSeq: Type.Integer(),
  assigneeName: Type.Union([Type.String(), Type.Null()]),
  agentReadSeq: Type.Integer(),
  createdAt: Type.String(),
});
export type VisitorConversationView = Static<typeof VisitorConversationView>;

// ---------- client → server frames ----------

const ResumeEntry = Type.Object({ conversationId: Uuid, lastSeq: Seq }, { additionalProperties: false });

export const CLIENT_FRAME_SCHEMAS = {
  /** First frame of a visitor socket (required, carries the visitor token); optional for agents. */
  hello: Type.Object(
    {
      type: Type.Literal('hello'),
      ref: Ref,
      token: Type.Optional(Type.String({ maxLength: 2048 })),
      resume: Type.Optional(Type.Array(ResumeEntry, { maxItems: MAX_RESUME_ENTRIES })),
    },
    { additionalProperties: false },
  ),
  /** Replay what the client missed after lastSeq, per conversation, before live traffic. */
  resume: Type.Object(
    {
      type: Type.Literal('resume'),
      ref: Ref,
      conversations: Type.Array(ResumeEntry, { maxItems: MAX_RESUME_ENTRIES }),
    },
    { additionalProperties: false },
  ),
  send: Type.Object(
    {
      type: Type.Literal('send'),
      ref: Ref,
      conversationId: Uuid,
      clientId: ClientId,
      // 1…PARLEY_MESSAGE_MAX_CHARS code points: checked by the service (text-rules.ts), which
      // answers text_too_long, for WebSocket and HTTP alike.
      text: Type.String({ minLength: 1 }),
      /** Agents only: a private note, never delivered to the visitor. */
      private: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  typing: Type.Object(
    { type: Type.Literal('typing'), ref: Ref, conversationId: Uuid, typing: Type.Boolean() },
    { additionalProperties: false },
  ),
  read: Type.Object(
    { type: Type.Literal('read'), ref: Ref, conversationId: Uuid, seq: Seq },
    { additionalProperties: false },
  ),
  recall: Type.Object(
    { type: Type.Literal('recall'), ref: Ref, messageId: Uuid },
    { additionalProperties: false },
  ),
  edit: Type.Object(
    { type: Type.Literal('edit'), ref: Ref, messageId: Uuid, text: Type.String({ minLength: 1 }) },
    { additionalProperties: false },
  ),
  ping: Type.Object({ type: Type.Literal('ping'), ref: Ref }, { additionalProperties: false }),
  /** Agents only: this socket's presence (a console idle for a while says away). */
  presence: Type.Object(
    {
      type: Type.Literal('presence'),
      ref: Ref,
      status: Type.Union([Type.Literal('online'), Type.Literal('away')]),
    },
    { additionalProperties: false },
  ),
} as const;

export type ClientFrameType = keyof typeof CLIENT_FRAME_SCHEMAS;
export type ClientFrameOf<T extends ClientFrameType> = Static<(typeof CLIENT_FRAME_SCHEMAS)[T]>;
export type ClientFrame = { [T in ClientFrameType]: ClientFrameOf<T> }[ClientFrameType];

// ---------- server → client events ----------

export type ErrorCode =
  | 'bad_frame'
  | 'unknown_frame'
  | 'text_too_long'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

/** Every limit a client must respect, as `ready` states them (docs/PROTOCOL.md, "Limits"). */
export interface ClientLimits {
  /** Longest `text` of a send or edit, in Unicode code points (text-rules.ts textLength). */
  maxTextChars: number;
  /** Largest frame the server reads, in bytes; a larger one closes the socket with 1009. */
  maxFrameBytes: number;
  /** Entries of one `hello.resume` or `resume.conversations`. */
  maxResumeEntries: number;
  /** Frames per second this connection may send on average, and in a burst (else 1008). */
  framesPerSecond: number;
  framesBurst: number;
  /** Sends to different conversations handled at once; more wait their turn. */
  maxSendsInFlight: number;
  /** Largest attachment accepted by the upload routes (HTTP), in bytes. */
  maxAttachmentBytes: number;
}

export type ServerEvent =
  | {
      type: 'ready';
      connectionId: string;
      role: 'visitor' | 'agent';
      /** visitor: the contact id; agent: the user id. */
      subjectId: string;
      limits: ClientLimits;
    }
  | {
      /** The message is committed: sent once per send frame, identical for every resend. */
      type: 'ack';
      ref?: string;
      clientId: string;
      conversationId: string;
      messageId: string;
      seq: number;
      createdAt: string;
    }
  | { type: 'message'; message: MessageView }
  | { type: 'conversation'; conversation: ConversationView | VisitorConversationView }
  /** Replay for one conversation is complete: live messages follow. lastSeq: the socket now has
   *  every message it may see up to it. reset: lastSeq is below the one the client gave (the
   *  conversation ends there, e.g. after a restore): drop what you hold beyond it. */
  | {
      type: 'resumed';
      ref?: string;
      conversationId: string;
      lastSeq: number;
      replayed: number;
      reset?: true;
    }
  | {
      type: 'typing';
      conversationId: string;
      who: { type: 'visitor' | 'agent'; id: string; name: string | null };
      typing: boolean;
      /** Treat the indicator as gone after this long without a refresh. */
      expiresInMs: number;
    }
  | { type: 'read'; conversationId: string; reader: { type: 'visitor' | 'agent'; id: string }; seq: number }
  /** An agent's presence on any replica (agents only). 'away' is set by the agent's client. */
  | { type: 'presence'; userId: string; status: 'online' | 'away' | 'offline' }
  /** An agent chose a status in the console (agents only; see modules/availability). */
  | { type: 'availability'; userId: string; status: AgentAvailability }
  /** The visitor of a conversation has a socket open on it, on any replica (agents only). */
  | { type: 'visitor_presence'; conversationId: string; online: boolean }
  /**
   * The conversation left this agent's view (transferred to someone else or another team, or
   * the agent left its team): nothing more of it arrives on this socket. Drop it from lists.
   */
  | { type: 'conversation_removed'; conversationId: string; reason: 'reassigned' | 'access_changed' }
  /** The agent's teams changed while connected: live traffic now follows these teams. */
  | { type: 'access_changed'; teamIds: string[] }
  | { type: 'ok'; ref?: string }
  | { type: 'pong'; ref?: string }
  /**
   * The frame was refused. `ref` and `clientId` echo the refused frame's (when it was a JSON
   * object carrying them), so a client with several frames in flight knows which one failed.
   */
  | { type: 'error'; ref?: string; clientId?: string; code: ErrorCode; message: string; field?: string };

export type ServerEventType = ServerEvent['type'];
