import { Type } from '@fastify/type-provider-typebox';

const Filter = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'occurred at or after (ISO 8601)' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'occurred before (ISO 8601)' })),
  actor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'user id or username' })),
  action: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'an action, or a family ending in "."' }),
  ),
  targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
};

export const AuditListQuery = Type.Object(
  {
    ...Filter,
    afterSeq: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
);

export const AuditExportQuery = Type.Object(
  { ...Filter, format: Type.Union([Type.Literal('csv'), Type.Literal('jsonl')]) },
  { additionalProperties: false },
);

export const AuditRecordSchema = Type.Object({
  seq: Type.Integer(),
  occurredAt: Type.String(),
  actorId: Type.Union([Type.String(), Type.Null()]),
  actorName: Type.Union([Type.String(), Type.Null()]),
  actorIp: Type.Union([Type.String(), Type.Null()]),
  actorUserAgent: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  targetType: Type.Union([Type.String(), Type.Null()]),
  targetId: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
  hashAlg: Type.String(),
  prevHash: Type.String(),
  hash: Type.String(),
});

export const VerifyReportSchema = Type.Object({
  ok: Type.Boolean(),
  records: Type.Integer(),
  range: Type.Object({
    firstSeq: Type.Union([Type.Integer(), Type.Null()]),
    lastSeq: Type.Union([Type.Integer(), Type.Null()]),
  }),
  checkpointsVerified: Type.Integer(),
  signatures: Type.String(),
  signedUpTo: Type.Union([Type.Integer(), Type.Null()]),
  problems: Type.Array(
    Type.Object({
      kind: Type.String(),
      seq: Type.Union([Type.Integer(), Type.Null()]),
      message: Type.String(),
    }),
  ),
  warnings: Type.Array(Type.String()),
});

export const AuditHealthSchema = Type.Object({
  state: Type.Union([Type.Literal('ok'), Type.Literal('warn'), Type.Literal('alert')]),
  reasons: Type.Array(Type.String()),
  intervalSeconds: Type.Integer(),
  headSeq: Type.Union([Type.Integer(), Type.Null()]),
  checkpoint: Type.Union([
    Type.Object({ seq: Type.Integer(), signedAt: Type.String(), ageSeconds: Type.Integer() }),
    Type.Null(),
  ]),
  anchor: Type.Union([
    Type.Object({ seq: Type.Integer(), writtenAt: Type.String(), ageSeconds: Type.Integer() }),
    Type.Null(),
  ]),
  anchorConfigured: Type.Boolean(),
  macConfigured: Type.Boolean(),
});
