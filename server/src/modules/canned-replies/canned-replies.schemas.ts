import { Type } from '@fastify/type-provider-typebox';
import { Uuid } from '../../platform/http/schemas.ts';

export const CannedReplyScope = Type.Union([
  Type.Literal('personal'),
  Type.Literal('team'),
  Type.Literal('global'),
]);

export const CannedReplySchema = Type.Object({
  id: Type.String(),
  scope: CannedReplyScope,
  teamId: Type.Union([Type.String(), Type.Null()]),
  teamName: Type.Union([Type.String(), Type.Null()]),
  shortcut: Type.String(),
  body: Type.String(),
  category: Type.String(),
  /** Whether the signed-in user may change or delete it. */
  editable: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const Shortcut = Type.String({ minLength: 1, maxLength: 32 });
const Body = Type.String({ minLength: 1, maxLength: 5000 });
const Category = Type.String({ maxLength: 40 });

export const CreateCannedReplyBody = Type.Object(
  {
    scope: CannedReplyScope,
    teamId: Type.Optional(Uuid),
    shortcut: Shortcut,
    body: Body,
    category: Type.Optional(Category),
  },
  { additionalProperties: false },
);

export const UpdateCannedReplyBody = Type.Object(
  {
    shortcut: Type.Optional(Shortcut),
    body: Type.Optional(Body),
    category: Type.Optional(Category),
  },
  { additionalProperties: false, minProperties: 1 },
);
