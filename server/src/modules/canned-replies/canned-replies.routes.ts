import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import type { CannedRepliesService } from './canned-replies.service.ts';
import { CannedReplySchema, CreateCannedReplyBody, UpdateCannedReplyBody } from './canned-replies.schemas.ts';

// Every route needs canned_replies.use; the service decides per scope and team what else is needed.
export const cannedRepliesRoutes: FastifyPluginAsyncTypebox<{ cannedReplies: CannedRepliesService }> = async (
  app,
  { cannedReplies },
) => {
  const withNotFound = { ...authErrors, 404: ErrorResponse } as const;

  app.get(
    '/api/v1/canned-replies',
    {
      config: { access: 'canned_replies.use' },
      schema: {
        response: { 200: Type.Object({ cannedReplies: Type.Array(CannedReplySchema) }), ...authErrors },
      },
    },
    async (request) => ({ cannedReplies: await cannedReplies.list(actorOf(request)) }),
  );

  app.get(
    '/api/v1/canned-replies/:id',
    {
      config: { access: 'canned_replies.use' },
      schema: { params: IdParams, response: { 200: CannedReplySchema, ...withNotFound } },
    },
    async (request) => cannedReplies.get(actorOf(request), request.params.id),
  );

  app.post(
    '/api/v1/canned-replies',
    {
      config: { access: 'canned_replies.use' },
      schema: {
        body: CreateCannedReplyBody,
        response: { 201: CannedReplySchema, ...withNotFound, 409: ErrorResponse },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await cannedReplies.create(actorOf(request), request.body)),
  );

  app.patch(
    '/api/v1/canned-replies/:id',
    {
      config: { access: 'canned_replies.use' },
      schema: {
        params: IdParams,
        body: UpdateCannedReplyBody,
        response: { 200: CannedReplySchema, ...withNotFound, 409: ErrorResponse },
      },
    },
    async (request) => cannedReplies.update(actorOf(request), request.params.id, request.body),
  );

  app.delete(
    '/api/v1/canned-replies/:id',
    {
      config: { access: 'canned_replies.use' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...withNotFound } },
    },
    async (request, reply) => {
      await cannedReplies.remove(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
};
