import { Type } from '@fastify/type-provider-typebox';
import { Uuid } from '../../platform/http/schemas.ts';
import {
  ConversationStatus,
  ConversationView,
  MessageView,
  Priority,
  SourcePage,
  VisitorConversationView,
} from '../../realtime/events.ts';

export { ConversationView, MessageView, VisitorConversationView };

export const ClientId = Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' });

export const AgentConversation = Type.Intersect([
  ConversationView,
  Type.Object({ unread: Type.Integer(), readSeq: Type.Integer() }),
]);

export const ListQuery = Type.Object(
  {
    status: Type.Optional(ConversationStatus),
    view: Type.Optional(
      Type.Union([
        Type.Literal('mine'),
        Type.Literal('unassigned'),
        Type.Literal('team'),
        Type.Literal('all'),
      ]),
    ),
    teamId: Type.Optional(Uuid),
    contactId: Type.Optional(Uuid),
    q: Type.Optional(Type.String({ maxLength: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);

/** Per inbox tab: open conversations where work waits for the reader (inbox-counts.ts). */
export const InboxCountsResponse = Type.Object({
  mine: Type.Integer(),
  unassigned: Type.Integer(),
  team: Type.Integer(),
  all: Type.Integer(),
});

export const ListResponse = Type.Object({
  conversations: Type.Array(AgentConversation),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const HistoryQuery = Type.Object(
  {
    afterSeq: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    beforeSeq: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  },
  { additionalProperties: false },
);

export const MessagesResponse = Type.Object({ messages: Type.Array(MessageView) });

export const SendBody = Type.Object(
  {
    clientId: ClientId,
    text: Type.String({ minLength: 1 }),
    private: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const VisitorSendBody = Type.Object(
  { clientId: ClientId, text: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);

export const Ack = Type.Object({
  clientId: Type.String(),
  conversationId: Type.String(),
  messageId: Type.String(),
  seq: Type.Integer(),
  createdAt: Type.String(),
  duplicate: Type.Boolean(),
  message: MessageView,
});

export const UploadQuery = Type.Object(
  { clientId: ClientId, private: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);

export const AssignBody = Type.Object(
  { assigneeId: Type.Union([Uuid, Type.Null()]), teamId: Type.Optional(Type.Union([Uuid, Type.Null()])) },
  { additionalProperties: false },
);
export const TransferBody = Type.Object(
  {
    assigneeId: Uuid,
    // Its length (PARLEY_MESSAGE_MAX_CHARS, in code points) is checked by the service.
    note: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export const SnoozeBody = Type.Object(
  { until: Type.String({ format: 'date-time' }) },
  { additionalProperties: false },
);
export const PriorityBody = Type.Object({ priority: Priority }, { additionalProperties: false });
export const ReadBody = Type.Object(
  { seq: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) },
  { additionalProperties: false },
);
export const ReadResponse = Type.Object({ readSeq: Type.Integer() });
export const EditBody = Type.Object({ text: Type.String({ minLength: 1 }) }, { additionalProperties: false });

/** A masked message's text as typed (transcript masking; pii.reveal, audited). */
export const RevealedMessage = Type.Object({ id: Uuid, text: Type.String() });

export const VisitorSessionBody = Type.Object(
  {
    token: Type.Optional(Type.String({ maxLength: 2048 })),
    channelId: Type.Optional(Uuid),
    userId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    userHash: Type.Optional(Type.String({ maxLength: 128 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    email: Type.Optional(Type.String({ maxLength: 320, format: 'email' })),
  },
  { additionalProperties: false },
);
/**
 * Opening a conversation from the widget: optionally, the page the visitor is on and the
 * browser's language (navigator.language, a BCP 47 tag; routing rules may match on it).
 */
export const OpenConversationBody = Type.Object(
  {
    sourcePage: Type.Optional(SourcePage),
    language: Type.Optional(
      Type.String({ maxLength: 35, pattern: '^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,5}$' }),
    ),
  },
  { additionalProperties: false },
);
export const VisitorSessionResponse = Type.Object({
  token: Type.String(),
  contactId: Type.String(),
  channelId: Type.String(),
  verified: Type.Boolean(),
});

export const ChannelsResponse = Type.Object({
  channels: Type.Array(
    Type.Object({
      id: Type.String(),
      type: Type.String(),
      name: Type.String(),
      identitySecret: Type.String(),
      defaultTeamId: Type.Union([Type.String(), Type.Null()]),
      createdAt: Type.String(),
    }),
  ),
});
