import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import type { ContactsService } from './contacts.service.ts';
import {
  ContactSchema,
  ContactSearchQuery,
  ContactSearchResponse,
  UpdateContactBody,
} from './contacts.schemas.ts';

export const contactsRoutes: FastifyPluginAsyncTypebox<{ contacts: ContactsService }> = async (
  app,
  { contacts },
) => {
  const withNotFound = { ...authErrors, 404: ErrorResponse } as const;
  app.get(
    '/api/v1/contacts',
    {
      config: { access: 'contacts.read' },
      schema: {
        querystring: ContactSearchQuery,
        response: { 200: ContactSearchResponse, ...authErrors },
      },
    },
    async (request) => contacts.searchContacts(actorOf(request), request.query.q),
  );
  app.get(
    '/api/v1/contacts/:id',
    {
      config: { access: 'contacts.read' },
      schema: { params: IdParams, response: { 200: ContactSchema, ...withNotFound } },
    },
    async (request) => contacts.getContact(actorOf(request), request.params.id),
  );
  app.patch(
    '/api/v1/contacts/:id',
    {
      config: { access: 'contacts.manage' },
      schema: {
        params: IdParams,
        body: UpdateContactBody,
        response: { 200: ContactSchema, ...withNotFound },
      },
    },
    async (request) => contacts.updateContact(actorOf(request), request.params.id, request.body),
  );

  app.post(
    '/api/v1/contacts/:id/reveal',
    {
      config: { access: 'pii.reveal' },
      schema: { params: IdParams, response: { 200: ContactSchema, ...withNotFound } },
    },
    async (request) => contacts.revealContact(actorOf(request), request.params.id),
  );
  app.get(
    '/api/v1/contacts/:id/export',
    {
      config: { access: 'privacy.manage' },
      schema: {
        params: IdParams,
        response: { 200: Type.Unknown({ description: 'tar archive' }), ...withNotFound },
      },
    },
    async (request, reply) => {
      const { archive, fileName } = await contacts.exportContact(actorOf(request), request.params.id);
      return reply
        .header('content-type', 'application/x-tar')
        .header('content-disposition', `attachment; filename="${fileName}"`)
        .send(archive);
    },
  );
  app.post(
    '/api/v1/contacts/:id/erasure-request',
    {
      config: { access: 'privacy.manage' },
      schema: {
        params: IdParams,
        response: {
          200: Type.Object({
            confirmation: Type.String(),
            expiresAt: Type.String(),
            conversations: Type.Integer(),
            messages: Type.Integer(),
            attachments: Type.Integer(),
          }),
          ...withNotFound,
        },
      },
    },
    async (request) => contacts.requestErasure(actorOf(request), request.params.id),
  );
  app.post(
    '/api/v1/contacts/:id/erase',
    {
      config: { access: 'privacy.manage' },
      schema: {
        params: IdParams,
        body: Type.Object(
          { confirmation: Type.String({ minLength: 10, maxLength: 100 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            conversations: Type.Integer(),
            messages: Type.Integer(),
            attachments: Type.Integer(),
          }),
          ...withNotFound,
        },
      },
    },
    async (request) => contacts.eraseContact(actorOf(request), request.params.id, request.body.confirmation),
  );
};
