import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { SESSION_COOKIE, actorOf, clientOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, authErrors } from '../../platform/http/schemas.ts';
import type { IdentityService } from './identity.service.ts';
import { ChangePasswordBody, LoginBody, LoginResponse, MeSchema } from './identity.schemas.ts';
import { permissionsOf } from './permissions.ts';

export const authRoutes: FastifyPluginAsyncTypebox<{
  identity: IdentityService;
  secureCookies: boolean;
}> = async (app, { identity, secureCookies }) => {
  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'strict', secure: secureCookies } as const;

  app.post(
    '/api/v1/auth/login',
    {
      config: { access: 'public' },
      schema: {
        body: LoginBody,
        response: {
          200: LoginResponse,
          400: ErrorResponse,
          401: ErrorResponse,
          403: ErrorResponse,
          429: ErrorResponse,
        },
      },
    },
    async (request, reply) => {
      const result = await identity.login(request.body, clientOf(request));
      void reply.setCookie(SESSION_COOKIE, result.token, { ...cookieOptions, expires: result.expiresAt });
      return {
        user: result.user,
        permissions: [...permissionsOf(result.user.role)],
        expiresAt: result.expiresAt.toISOString(),
      };
    },
  );

  app.post(
    '/api/v1/auth/logout',
    { config: { access: 'authenticated' }, schema: { response: { 204: Type.Null(), ...authErrors } } },
    async (request, reply) => {
      await identity.logout(actorOf(request));
      void reply.clearCookie(SESSION_COOKIE, cookieOptions);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/auth/me',
    { config: { access: 'authenticated' }, schema: { response: { 200: MeSchema, ...authErrors } } },
    async (request) => {
      const actor = actorOf(request);
      return { user: await identity.me(actor), permissions: [...permissionsOf(actor.role)] };
    },
  );

  app.post(
    '/api/v1/auth/password',
    {
      config: { access: 'authenticated' },
      schema: { body: ChangePasswordBody, response: { 204: Type.Null(), ...authErrors } },
    },
    async (request, reply) => {
      await identity.changeOwnPassword(actorOf(request), request.body);
      return reply.status(204).send(null);
    },
  );
};
