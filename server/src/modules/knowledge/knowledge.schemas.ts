import { Type } from '@fastify/type-provider-typebox';
import { Uuid } from '../../platform/http/schemas.ts';
import { LIMITS } from './knowledge.rules.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const AttachmentSchema = Type.Object(
  {
    kind: Type.Union([Type.Literal('link'), Type.Literal('image')]),
    url: Type.String({ minLength: 1, maxLength: LIMITS.urlChars }),
    title: Type.Optional(Type.String({ maxLength: LIMITS.titleChars })),
  },
  { additionalProperties: false },
);

export const EntrySchema = Type.Object({
  id: Type.String(),
  externalId: Type.Union([Type.String(), Type.Null()]),
  question: Type.String(),
  similar: Type.Array(Type.String()),
  answer: Type.String(),
  attachments: Type.Array(
    Type.Object({
      kind: Type.Union([Type.Literal('link'), Type.Literal('image')]),
      url: Type.String(),
      title: Type.String(),
    }),
  ),
  quickReplies: Type.Array(Type.String()),
  categoryId: Type.Union([Type.String(), Type.Null()]),
  tags: Type.Array(Type.String()),
  channelIds: Type.Union([Type.Array(Type.String()), Type.Null()]),
  validFrom: Type.Union([Type.String(), Type.Null()]),
  validUntil: Type.Union([Type.String(), Type.Null()]),
  enabled: Type.Boolean(),
  version: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

// Lengths are checked in the service (in characters, with the field named); these bounds only keep
// absurd bodies out.
const Question = Type.String({ maxLength: LIMITS.questionChars * 4 });
const entryFields = {
  similar: Type.Optional(Type.Array(Question, { maxItems: LIMITS.similarCount })),
  attachments: Type.Optional(Type.Array(AttachmentSchema, { maxItems: LIMITS.attachments })),
  quickReplies: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: LIMITS.quickReplies })),
  categoryId: Type.Optional(Type.Union([Uuid, Type.Null()])),
  tags: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: LIMITS.tags })),
  channelIds: Type.Optional(Type.Union([Type.Array(Uuid, { maxItems: 200 }), Type.Null()])),
  validFrom: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
  validUntil: Type.Optional(Nullable(Type.String({ format: 'date-time' }))),
  enabled: Type.Optional(Type.Boolean()),
  externalId: Type.Optional(Nullable(Type.String({ maxLength: LIMITS.externalIdChars }))),
};

export const CreateEntryBody = Type.Object(
  { question: Question, answer: Type.String({ maxLength: LIMITS.answerChars * 4 }), ...entryFields },
  { additionalProperties: false },
);

export const UpdateEntryBody = Type.Object(
  {
    question: Type.Optional(Question),
    answer: Type.Optional(Type.String({ maxLength: LIMITS.answerChars * 4 })),
    ...entryFields,
    /** The version the editor loaded: 409 when someone saved meanwhile. */
    expectedVersion: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListEntriesQuery = Type.Object(
  {
    q: Type.Optional(Type.String({ maxLength: 200 })),
    categoryId: Type.Optional(Uuid),
    uncategorised: Type.Optional(Type.Boolean()),
    enabled: Type.Optional(Type.Boolean()),
    tag: Type.Optional(Type.String({ maxLength: LIMITS.tagChars })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  },
  { additionalProperties: false },
);

export const EntryListSchema = Type.Object({
  entries: Type.Array(EntrySchema),
  total: Type.Integer(),
  /** Whether the signed-in user may change the knowledge base (knowledge.manage). */
  canManage: Type.Boolean(),
});

export const BulkEnableBody = Type.Object(
  { ids: Type.Array(Uuid, { minItems: 1, maxItems: 1000 }), enabled: Type.Boolean() },
  { additionalProperties: false },
);

export const VersionSchema = Type.Object({
  version: Type.Integer(),
  action: Type.String(),
  snapshot: Type.Record(Type.String(), Type.Unknown()),
  actorId: Type.Union([Type.String(), Type.Null()]),
  actorName: Type.Union([Type.String(), Type.Null()]),
  at: Type.String(),
});

export const CategorySchema = Type.Object({
  id: Type.String(),
  parentId: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  position: Type.Integer(),
  entryCount: Type.Integer(),
});

export const CreateCategoryBody = Type.Object(
  {
    parentId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    name: Type.String({ maxLength: 200 }),
    position: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
  },
  { additionalProperties: false },
);

export const UpdateCategoryBody = Type.Object(
  {
    parentId: Type.Optional(Type.Union([Uuid, Type.Null()])),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    position: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const SynonymGroupSchema = Type.Object({
  id: Type.String(),
  words: Type.Array(Type.String()),
  updatedAt: Type.String(),
});
export const SynonymGroupBody = Type.Object(
  { words: Type.Array(Type.String({ maxLength: 200 }), { maxItems: LIMITS.synonymWords * 2 }) },
  { additionalProperties: false },
);

const WordKind = Type.Union([Type.Literal('product'), Type.Literal('term')]);
export const DictionaryWordSchema = Type.Object({
  id: Type.String(),
  word: Type.String(),
  kind: WordKind,
  createdAt: Type.String(),
});
export const DictionaryWordBody = Type.Object(
  { word: Type.String({ maxLength: 200 }), kind: Type.Optional(WordKind) },
  { additionalProperties: false },
);

const Format = Type.Union([Type.Literal('xlsx'), Type.Literal('csv'), Type.Literal('jsonl')]);

export const ImportQuery = Type.Object(
  {
    fileName: Type.String({ minLength: 1, maxLength: 255 }),
    format: Type.Optional(Format),
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ImportReportSchema = Type.Object({
  id: Type.Union([Type.String(), Type.Null()]),
  format: Format,
  fileName: Type.String(),
  dryRun: Type.Boolean(),
  status: Type.Union([Type.Literal('running'), Type.Literal('done'), Type.Literal('failed')]),
  encoding: Type.Union([Type.String(), Type.Null()]),
  total: Type.Integer(),
  processed: Type.Integer(),
  created: Type.Integer(),
  updated: Type.Integer(),
  errors: Type.Array(Type.Object({ row: Type.Integer(), field: Type.String(), message: Type.String() })),
  errorCount: Type.Integer(),
  saved: Type.Boolean(),
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
});

export const ExportQuery = Type.Object({ format: Format }, { additionalProperties: false });
