// Visitor-side HTTP API (the widget's fallbacks next to the WebSocket). Visitors authenticate
// with their visitor token: `Authorization: Bearer <token>`.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { ErrorResponse, IdParams } from '../../platform/http/schemas.ts';
import type { ConversationsService } from './conversations.service.ts';
import { ackOf, readUpload, sendAttachment } from './conversations.routes.ts';
import {
  Ack,
  HistoryQuery,
  MessageView,
  MessagesResponse,
  OpenConversationBody,
  ReadBody,
  ReadResponse,
  UploadQuery,
  VisitorConversationView,
  VisitorSendBody,
  VisitorSessionBody,
  VisitorSessionResponse,
} from './conversations.schemas.ts';

function bearer(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  return typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}

export const widgetRoutes: FastifyPluginAsyncTypebox<{ conversations: ConversationsService }> = async (
  app,
  { conversations },
) => {
  const errors = { 400: ErrorResponse, 401: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse } as const;
  const visitorOf = (request: FastifyRequest) => conversations.authenticateVisitor(bearer(request));

  // Creating visitors, conversations and uploads is rate-limited per IP (PUBLIC_RATE_LIMIT_PER_MINUTE).
  app.post(
    '/api/v1/widget/session',
    {
      config: { access: 'public', rateLimit: 'public' },
      schema: {
        body: VisitorSessionBody,
        response: { 200: VisitorSessionResponse, ...errors, 429: ErrorResponse },
      },
    },
    async (request) => conversations.startVisitorSession(request.body),
  );

  app.get(
    '/api/v1/widget/conversations',
    {
      config: { access: 'public' },
      schema: {
        response: { 200: Type.Object({ conversations: Type.Array(VisitorConversationView) }), ...errors },
      },
    },
    async (request) => ({
      conversations: await conversations.listVisitorConversations(await visitorOf(request)),
    }),
  );

  app.post(
    '/api/v1/widget/conversations',
    {
      config: { access: 'public', rateLimit: 'public' },
      schema: {
        body: OpenConversationBody,
        response: { 200: VisitorConversationView, ...errors, 429: ErrorResponse },
      },
      // The body is optional (earlier widgets send none): no body is the empty object.
      preValidation: async (request) => {
        (request as { body: unknown }).body ??= {};
      },
    },
    async (request) =>
      conversations.openConversation(await visitorOf(request), {
        sourcePage: request.body.sourcePage,
        language: request.body.language,
      }),
  );

  app.get(
    '/api/v1/widget/conversations/:id/messages',
    {
      config: { access: 'public' },
      schema: { params: IdParams, querystring: HistoryQuery, response: { 200: MessagesResponse, ...errors } },
    },
    async (request) => ({
      messages: await conversations.visitorHistory(
        await visitorOf(request),
        request.params.id,
        request.query,
      ),
    }),
  );

  app.post(
    '/api/v1/widget/conversations/:id/messages',
    {
      config: { access: 'public' },
      schema: { params: IdParams, body: VisitorSendBody, response: { 200: Ack, 201: Ack, ...errors } },
    },
    async (request, reply) => {
      const r = await conversations.visitorSend(await visitorOf(request), request.params.id, request.body);
      return reply.status(r.duplicate ? 200 : 201).send(ackOf(r));
    },
  );

  app.post(
    '/api/v1/widget/conversations/:id/attachments',
    {
      config: { access: 'public', rateLimit: 'public' },
      schema: {
        params: IdParams,
        querystring: Type.Omit(UploadQuery, ['private']),
        response: { 200: Ack, 201: Ack, ...errors, 413: ErrorResponse },
      },
    },
    async (request, reply) => {
      const visitor = await visitorOf(request);
      const file = await readUpload(request);
      const r = await conversations.visitorUpload(visitor, request.params.id, {
        clientId: request.query.clientId,
        file,
      });
      return reply.status(r.duplicate ? 200 : 201).send(ackOf(r));
    },
  );

  app.get(
    '/api/v1/widget/attachments/:id',
    { config: { access: 'public' }, schema: { params: IdParams } },
    async (request, reply) =>
      sendAttachment(
        reply,
        await conversations.visitorAttachment(await visitorOf(request), request.params.id),
      ),
  );

  app.post(
    '/api/v1/widget/conversations/:id/read',
    {
      config: { access: 'public' },
      schema: { params: IdParams, body: ReadBody, response: { 200: ReadResponse, ...errors } },
    },
    async (request) => ({
      readSeq: await conversations.visitorRead(await visitorOf(request), request.params.id, request.body.seq),
    }),
  );

  app.post(
    '/api/v1/widget/messages/:id/recall',
    { config: { access: 'public' }, schema: { params: IdParams, response: { 200: MessageView, ...errors } } },
    async (request) => conversations.visitorRecall(await visitorOf(request), request.params.id),
  );
};
