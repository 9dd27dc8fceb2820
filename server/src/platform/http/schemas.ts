import { Type } from '@fastify/type-provider-typebox';

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
  requestId: Type.String(),
});

/** Error responses every authenticated route may give. */
export const authErrors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse } as const;

export const Uuid = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
