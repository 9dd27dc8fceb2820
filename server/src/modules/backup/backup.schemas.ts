import { Type } from '@fastify/type-provider-typebox';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const BackupRunSchema = Type.Object({
  kind: Type.Union([Type.Literal('create'), Type.Literal('verify')]),
  archive: Type.String(),
  archiveCreatedAt: Nullable(Type.String({ format: 'date-time' })),
  startedAt: Type.String({ format: 'date-time' }),
  finishedAt: Type.String({ format: 'date-time' }),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
  sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
  durationMs: Type.Integer(),
  restoreMs: Type.Union([Type.Integer(), Type.Null()]),
  replica: Type.String(),
  error: Nullable(Type.String()),
});

export const BackupOverviewSchema = Type.Object({
  schedule: Nullable(Type.String()),
  encrypted: Type.Boolean(),
  rpoHours: Type.Integer(),
  rpoExceeded: Type.Boolean(),
  newestVerifiedAt: Nullable(Type.String({ format: 'date-time' })),
  runs: Type.Array(BackupRunSchema),
});
