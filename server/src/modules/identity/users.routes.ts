import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import type { IdentityService } from './identity.service.ts';
import {
  CreateUserBody,
  CreateUserResponse,
  ResetPasswordResponse,
  SessionSchema,
  UpdateUserBody,
  UserSchema,
} from './identity.schemas.ts';

export const usersRoutes: FastifyPluginAsyncTypebox<{ identity: IdentityService }> = async (
  app,
  { identity },
) => {
  app.get(
    '/api/v1/users',
    {
      config: { access: 'users.read' },
      schema: { response: { 200: Type.Object({ users: Type.Array(UserSchema) }), ...authErrors } },
    },
    async (request) => ({ users: await identity.listUsers(actorOf(request)) }),
  );

  app.get(
    '/api/v1/users/:id',
    {
      config: { access: 'users.read' },
      schema: { params: IdParams, response: { 200: UserSchema, ...authErrors, 404: ErrorResponse } },
    },
    async (request) => identity.getUser(actorOf(request), request.params.id),
  );

  app.post(
    '/api/v1/users',
    {
      config: { access: 'users.manage' },
      schema: {
        body: CreateUserBody,
        response: { 201: CreateUserResponse, ...authErrors, 409: ErrorResponse },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await identity.createUser(actorOf(request), request.body)),
  );

  app.patch(
    '/api/v1/users/:id',
    {
      config: { access: 'users.manage' },
      schema: {
        params: IdParams,
        body: UpdateUserBody,
        response: { 200: UserSchema, ...authErrors, 404: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (request) => identity.updateUser(actorOf(request), request.params.id, request.body),
  );

  app.get(
    '/api/v1/users/:id/sessions',
    {
      config: { access: 'sessions.manage' },
      schema: {
        params: IdParams,
        response: {
          200: Type.Object({ sessions: Type.Array(SessionSchema) }),
          ...authErrors,
          404: ErrorResponse,
        },
      },
    },
    async (request) => ({ sessions: await identity.listSessions(actorOf(request), request.params.id) }),
  );

  app.post(
    '/api/v1/users/:id/totp/reset',
    {
      config: { access: 'users.manage' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...authErrors, 404: ErrorResponse } },
    },
    async (request, reply) => {
      await identity.totpReset(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/users/:id/reset-password',
    {
      config: { access: 'users.manage' },
      schema: {
        params: IdParams,
        response: { 200: ResetPasswordResponse, ...authErrors, 404: ErrorResponse },
      },
    },
    async (request) => identity.resetPassword(actorOf(request), request.params.id),
  );
};
