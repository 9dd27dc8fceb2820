// HTTP schemas of routing rules (docs/ROUTING.md, "Rules"). A condition is one flat object whose
// `type` says which of its fields apply; routing-rules.service checks the combination and names
// the offending field (`conditions.2.values`, the schema validator's form), so a bad rule is a 400 saying where.
import { Type, type Static } from '@fastify/type-provider-typebox';
import { Uuid } from '../../platform/http/schemas.ts';

export const PRIORITIES = ['urgent', 'vip', 'high', 'normal', 'low'] as const;
export const PrioritySchema = Type.Union([
  Type.Literal('urgent'),
  Type.Literal('vip'),
  Type.Literal('high'),
  Type.Literal('normal'),
  Type.Literal('low'),
]);

export const CONDITION_TYPES = ['pageUrl', 'language', 'tags', 'attribute', 'keywords'] as const;

const ShortText = Type.String({ minLength: 1, maxLength: 100 });

export const ConditionSchema = Type.Object(
  {
    type: Type.Union([
      Type.Literal('pageUrl'),
      Type.Literal('language'),
      Type.Literal('tags'),
      Type.Literal('attribute'),
      Type.Literal('keywords'),
    ]),
    /** pageUrl: how `value` is compared with the page URL. */
    op: Type.Optional(Type.Union([Type.Literal('contains'), Type.Literal('prefix'), Type.Literal('glob')])),
    /** pageUrl: the text or glob; attribute: the value the attribute must equal. */
    value: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 500 }), Type.Number(), Type.Boolean()]),
    ),
    /** language: BCP 47 tags or prefixes ("zh", "en-US"); tags: tag names; keywords: words. */
    values: Type.Optional(Type.Array(ShortText, { minItems: 1, maxItems: 50 })),
    /** tags: the contact has any / all of `values`. */
    match: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('all')])),
    /** attribute: the custom attribute's key. */
    key: Type.Optional(ShortText),
  },
  { additionalProperties: false },
);
export type Condition = Static<typeof ConditionSchema>;

const Conditions = Type.Array(ConditionSchema, { maxItems: 20 });
const RuleName = Type.String({ minLength: 1, maxLength: 100 });

export const CreateRuleBody = Type.Object(
  {
    channelId: Uuid,
    name: RuleName,
    enabled: Type.Optional(Type.Boolean()),
    conditions: Conditions,
    teamId: Uuid,
    priority: PrioritySchema,
    preferredAgentId: Type.Optional(Type.Union([Uuid, Type.Null()])),
  },
  { additionalProperties: false },
);
export type CreateRuleBody = Static<typeof CreateRuleBody>;

export const UpdateRuleBody = Type.Object(
  {
    name: Type.Optional(RuleName),
    enabled: Type.Optional(Type.Boolean()),
    conditions: Type.Optional(Conditions),
    teamId: Type.Optional(Uuid),
    priority: Type.Optional(PrioritySchema),
    preferredAgentId: Type.Optional(Type.Union([Uuid, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateRuleBody = Static<typeof UpdateRuleBody>;

export const RuleView = Type.Object({
  id: Type.String(),
  channelId: Type.String(),
  position: Type.Integer(),
  name: Type.String(),
  enabled: Type.Boolean(),
  conditions: Type.Array(ConditionSchema),
  teamId: Type.String(),
  priority: PrioritySchema,
  preferredAgentId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type RuleView = Static<typeof RuleView>;

export const RulesQuery = Type.Object({ channelId: Type.Optional(Uuid) }, { additionalProperties: false });
export const RuleList = Type.Object({ rules: Type.Array(RuleView) });

export const ReorderBody = Type.Object(
  { channelId: Uuid, ruleIds: Type.Array(Uuid, { maxItems: 1000 }) },
  { additionalProperties: false },
);

export const WebsiteView = Type.Object({
  channelId: Type.String(),
  name: Type.String(),
  defaultTeamId: Type.Union([Type.String(), Type.Null()]),
});
export const WebsiteList = Type.Object({ websites: Type.Array(WebsiteView) });
export const DefaultTeamBody = Type.Object(
  { teamId: Type.Union([Uuid, Type.Null()]) },
  { additionalProperties: false },
);

/** "Test this rule": a sample visitor and message. */
export const TestBody = Type.Object(
  {
    channelId: Uuid,
    pageUrl: Type.Optional(Type.String({ maxLength: 2000 })),
    language: Type.Optional(Type.String({ maxLength: 35 })),
    tags: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 })),
    attributes: Type.Optional(
      Type.Record(
        Type.String({ maxLength: 100 }),
        Type.Union([Type.String({ maxLength: 500 }), Type.Number(), Type.Boolean()]),
      ),
    ),
    message: Type.Optional(Type.String({ maxLength: 5000 })),
  },
  { additionalProperties: false },
);
export type TestBody = Static<typeof TestBody>;

export const TestResult = Type.Object({
  target: Type.Object({
    teamId: Type.Union([Type.String(), Type.Null()]),
    priority: PrioritySchema,
    preferredAgentId: Type.Union([Type.String(), Type.Null()]),
    ruleId: Type.Union([Type.String(), Type.Null()]),
  }),
  /** Every rule up to the one that hit, in order, with why it did or did not. */
  trace: Type.Array(
    Type.Object({
      ruleId: Type.String(),
      name: Type.String(),
      outcome: Type.Union([Type.Literal('matched'), Type.Literal('disabled'), Type.Literal('no_match')]),
      /** For no_match: the first condition that failed (its index) and why. */
      failed: Type.Union([
        Type.Object({ index: Type.Integer(), type: Type.String(), reason: Type.String() }),
        Type.Null(),
      ]),
    }),
  ),
  /** True when no rule hit and the website's default team (or none) answered. */
  usedDefault: Type.Boolean(),
});
