import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import type { ContactsService } from './contacts.service.ts';
import { ContactSchema, UpdateContactBody } from './contacts.schemas.ts';

export const contactsRoutes: FastifyPluginAsyncTypebox<{ contacts: ContactsService }> = async (
  app,
  { contacts },
) => {
  const withNotFound = { ...authErrors, 404: ErrorResponse } as const;
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
};
