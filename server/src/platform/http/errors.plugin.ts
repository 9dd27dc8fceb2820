// One place maps errors to HTTP. Typed AppErrors keep their status, code and message; schema
// validation failures become 400 naming the field; anything else is logged with the request id
// and answered with a bare 500 that reveals nothing.
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../errors.ts';

export interface ErrorBody {
  error: { code: string; message: string; field?: string; details?: Record<string, unknown> };
  requestId: string;
}

function fieldOf(err: FastifyError): string | undefined {
  const v = err.validation?.[0];
  if (!v) return undefined;
  const params = v.params as { missingProperty?: string; additionalProperty?: string };
  const base = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const leaf = params.missingProperty ?? params.additionalProperty;
  return [base, leaf].filter(Boolean).join('.') || undefined;
}

function validationMessage(err: FastifyError, field: string | undefined): string {
  const v = err.validation?.[0];
  if (!v) return err.message;
  const params = v.params as { additionalProperty?: string };
  if (v.keyword === 'additionalProperties' && params.additionalProperty) return `${field}: unknown field`;
  if (v.keyword === 'required') return `${field}: is required`;
  return `${field ?? err.validationContext ?? 'request'}: ${v.message ?? 'is invalid'}`;
}

export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const requestId = request.id;
    if (err instanceof AppError) {
      if (err.status >= 500) request.log.error({ err }, 'request failed');
      const field = typeof err.details?.field === 'string' ? err.details.field : undefined;
      const body: ErrorBody = {
        error: {
          code: err.code,
          message: err.message,
          ...(field ? { field } : {}),
          ...(err.details ? { details: err.details } : {}),
        },
        requestId,
      };
      if (err.status === 429 && typeof err.details?.retryAfterSeconds === 'number') {
        void reply.header('retry-after', String(err.details.retryAfterSeconds));
      }
      return reply.status(err.status).send(body);
    }
    if (err.validation) {
      const field = fieldOf(err);
      return reply.status(400).send({
        error: {
          code: 'validation_failed',
          message: validationMessage(err, field),
          ...(field ? { field } : {}),
        },
        requestId,
      } satisfies ErrorBody);
    }
    // Fastify's own client errors (malformed JSON, body too large, wrong content type).
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.status(err.statusCode).send({
        error: { code: (err.code ?? 'bad_request').toLowerCase(), message: err.message },
        requestId,
      } satisfies ErrorBody);
    }
    request.log.error({ err }, 'unexpected error');
    return reply.status(500).send({
      error: {
        code: 'internal',
        message: `Something went wrong on the server. Quote request id ${requestId} when reporting it.`,
      },
      requestId,
    } satisfies ErrorBody);
  });

  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: { code: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}.` },
      requestId: request.id,
    } satisfies ErrorBody),
  );
});
