import { Type } from '@fastify/type-provider-typebox';

export const ContactSchema = Type.Object({
  id: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  email: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  /** Custom attributes (the consent record is not one of them: see `consent`). */
  attributes: Type.Record(Type.String(), Type.Unknown()),
  /** The visitor's consent from the pre-chat form; read-only. */
  consent: Type.Union([
    Type.Object({
      at: Type.String(),
      channelId: Type.Union([Type.String(), Type.Null()]),
      version: Type.Union([Type.String(), Type.Null()]),
    }),
    Type.Null(),
  ]),
  tags: Type.Array(Type.String()),
  verifiedExternalId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

const Nullable = (max: number) => Type.Union([Type.String({ maxLength: max }), Type.Null()]);

export const UpdateContactBody = Type.Object(
  {
    name: Type.Optional(Nullable(200)),
    email: Type.Optional(Type.Union([Type.String({ maxLength: 320, format: 'email' }), Type.Null()])),
    phone: Type.Optional(
      Type.Union([Type.String({ maxLength: 40, pattern: '^[0-9+() .-]*$' }), Type.Null()]),
    ),
    attributes: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 100 }),
    ),
    /** Only the named attributes change; null removes one. */
    setAttributes: Type.Optional(
      Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 100 }),
    ),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 50 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** One search box: a contact id, the customer's user id, an exact email or phone, part of a name. */
export const ContactSearchQuery = Type.Object(
  { q: Type.String({ minLength: 1, maxLength: 320 }) },
  { additionalProperties: false },
);

export const ContactSearchResponse = Type.Object({
  contacts: Type.Array(ContactSchema),
  /**
   * False while names are encrypted at rest: part of a name then matches only among the 2,000
   * most recently updated contacts; exact email, phone and id lookups match every contact.
   */
  nameSearch: Type.Boolean(),
});
