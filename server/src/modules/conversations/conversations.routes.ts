// Agent-side HTTP API. Controllers unpack the request and call one service method.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../platform/errors.ts';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import { contentDisposition } from './attachments.ts';
import type {
  AttachmentContent,
  ConversationsService,
  SendResult,
  UploadedFile,
} from './conversations.service.ts';
import {
  Ack,
  AgentConversation,
  AssignBody,
  ChannelsResponse,
  ConversationView,
  EditBody,
  HistoryQuery,
  ListQuery,
  InboxCountsResponse,
  ListResponse,
  MessageView,
  MessagesResponse,
  PriorityBody,
  ReadBody,
  ReadResponse,
  RevealedMessage,
  SendBody,
  SnoozeBody,
  TransferBody,
  UploadQuery,
} from './conversations.schemas.ts';

export function ackOf(r: SendResult) {
  return {
    clientId: r.message.clientId ?? '',
    conversationId: r.message.conversationId,
    messageId: r.message.id,
    seq: r.message.seq,
    createdAt: r.message.createdAt,
    duplicate: r.duplicate,
    message: r.message,
  };
}

/** Reads the single multipart file of an upload request. */
export async function readUpload(request: FastifyRequest): Promise<UploadedFile> {
  if (!request.isMultipart())
    throw new BadRequestError('file: send multipart/form-data with a "file" part', 'file');
  const part = await request.file();
  if (!part || part.fieldname !== 'file') throw new BadRequestError('file: is required', 'file');
  const data = await part.toBuffer();
  return { fileName: part.filename, data };
}

export function sendAttachment(reply: FastifyReply, a: AttachmentContent) {
  // Images inline with their sniffed type; everything else as a download. Never HTML/SVG
  // (refused at upload). nosniff comes from helmet; a sandbox CSP guards the rest.
  return reply
    .header('content-type', a.contentType)
    .header('content-disposition', contentDisposition(a.inline ? 'inline' : 'attachment', a.fileName))
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'private, max-age=300')
    .send(a.data);
}

export const conversationsRoutes: FastifyPluginAsyncTypebox<{ conversations: ConversationsService }> = async (
  app,
  { conversations },
) => {
  const errors = { ...authErrors, 404: ErrorResponse, 409: ErrorResponse } as const;
  const ConversationResponse = { 200: ConversationView, ...errors } as const;

  app.get(
    '/api/v1/conversations',
    {
      config: { access: 'conversations.read' },
      schema: { querystring: ListQuery, response: { 200: ListResponse, ...authErrors } },
    },
    async (request) => conversations.listConversations(actorOf(request), request.query),
  );

  app.get(
    '/api/v1/conversations/counts',
    {
      config: { access: 'conversations.read' },
      schema: { response: { 200: InboxCountsResponse, ...authErrors } },
    },
    async (request) => conversations.inboxCounts(actorOf(request)),
  );

  app.get(
    '/api/v1/conversations/:id',
    {
      config: { access: 'conversations.read' },
      schema: { params: IdParams, response: { 200: AgentConversation, ...errors } },
    },
    async (request) => conversations.getConversation(actorOf(request), request.params.id),
  );

  app.delete(
    '/api/v1/conversations/:id',
    {
      config: { access: 'conversations.delete' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...errors } },
    },
    async (request, reply) => {
      await conversations.deleteConversation(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/conversations/:id/messages',
    {
      config: { access: 'conversations.read' },
      schema: { params: IdParams, querystring: HistoryQuery, response: { 200: MessagesResponse, ...errors } },
    },
    async (request) => ({
      messages: await conversations.messages(actorOf(request), request.params.id, request.query),
    }),
  );

  app.post(
    '/api/v1/conversations/:id/messages',
    {
      config: { access: 'conversations.reply' },
      schema: { params: IdParams, body: SendBody, response: { 200: Ack, 201: Ack, ...errors } },
    },
    async (request, reply) => {
      const r = await conversations.agentSend(actorOf(request), request.params.id, request.body);
      return reply.status(r.duplicate ? 200 : 201).send(ackOf(r));
    },
  );

  app.post(
    '/api/v1/conversations/:id/attachments',
    {
      config: { access: 'conversations.reply' },
      schema: {
        params: IdParams,
        querystring: UploadQuery,
        response: { 200: Ack, 201: Ack, ...errors, 413: ErrorResponse },
      },
    },
    async (request, reply) => {
      const file = await readUpload(request);
      const r = await conversations.agentUpload(actorOf(request), request.params.id, {
        ...request.query,
        file,
      });
      return reply.status(r.duplicate ? 200 : 201).send(ackOf(r));
    },
  );

  app.get(
    '/api/v1/attachments/:id',
    { config: { access: 'conversations.read' }, schema: { params: IdParams } },
    async (request, reply) =>
      sendAttachment(reply, await conversations.agentAttachment(actorOf(request), request.params.id)),
  );

  app.post(
    '/api/v1/conversations/:id/read',
    {
      config: { access: 'conversations.read' },
      schema: { params: IdParams, body: ReadBody, response: { 200: ReadResponse, ...errors } },
    },
    async (request) => ({
      readSeq: await conversations.agentRead(actorOf(request), request.params.id, request.body.seq),
    }),
  );

  app.post(
    '/api/v1/conversations/:id/claim',
    {
      config: { access: 'conversations.manage' },
      schema: { params: IdParams, response: ConversationResponse },
    },
    async (request) => conversations.claim(actorOf(request), request.params.id),
  );

  app.post(
    '/api/v1/conversations/:id/assign',
    {
      config: { access: 'conversations.assign' },
      schema: { params: IdParams, body: AssignBody, response: ConversationResponse },
    },
    async (request) => conversations.assign(actorOf(request), request.params.id, request.body),
  );

  app.post(
    '/api/v1/conversations/:id/transfer',
    {
      config: { access: 'conversations.manage' },
      schema: { params: IdParams, body: TransferBody, response: ConversationResponse },
    },
    async (request) => conversations.transfer(actorOf(request), request.params.id, request.body),
  );

  for (const [action, status] of [
    ['resolve', 'resolved'],
    ['reopen', 'open'],
    ['pending', 'pending'],
  ] as const) {
    app.post(
      `/api/v1/conversations/:id/${action}`,
      {
        config: { access: 'conversations.manage' },
        schema: { params: IdParams, response: ConversationResponse },
      },
      async (request) => conversations.setStatus(actorOf(request), request.params.id, status),
    );
  }

  app.post(
    '/api/v1/conversations/:id/snooze',
    {
      config: { access: 'conversations.manage' },
      schema: { params: IdParams, body: SnoozeBody, response: ConversationResponse },
    },
    async (request) =>
      conversations.setStatus(actorOf(request), request.params.id, 'snoozed', new Date(request.body.until)),
  );

  app.post(
    '/api/v1/conversations/:id/priority',
    {
      config: { access: 'conversations.manage' },
      schema: { params: IdParams, body: PriorityBody, response: ConversationResponse },
    },
    async (request) => conversations.setPriority(actorOf(request), request.params.id, request.body.priority),
  );

  app.post(
    '/api/v1/messages/:id/recall',
    {
      config: { access: 'conversations.reply' },
      schema: { params: IdParams, response: { 200: MessageView, ...errors } },
    },
    async (request) => conversations.agentRecall(actorOf(request), request.params.id),
  );

  app.patch(
    '/api/v1/messages/:id',
    {
      config: { access: 'conversations.reply' },
      schema: { params: IdParams, body: EditBody, response: { 200: MessageView, ...errors } },
    },
    async (request) => conversations.agentEdit(actorOf(request), request.params.id, request.body.text),
  );

  app.post(
    '/api/v1/messages/:id/reveal',
    {
      config: { access: 'pii.reveal' },
      schema: {
        params: IdParams,
        response: { 200: RevealedMessage, ...errors },
      },
    },
    async (request) => conversations.revealMessage(actorOf(request), request.params.id),
  );

  app.get(
    '/api/v1/channels',
    { config: { access: 'channels.manage' }, schema: { response: { 200: ChannelsResponse, ...authErrors } } },
    async (request) => ({ channels: await conversations.listChannels(actorOf(request)) }),
  );
};
