import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { SESSION_COOKIE, actorOf, clientOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, IdParams, authErrors } from '../../platform/http/schemas.ts';
import type { IdentityService, LoginResult } from './identity.service.ts';
import {
  ChangePasswordBody,
  LoginBody,
  LoginResponse,
  MeSchema,
  MfaChallengeResponse,
  SecondFactorBody,
  SessionSchema,
  TotpDisableBody,
  TotpEnableBody,
  TotpEnableResponse,
  TotpSetupResponse,
} from './identity.schemas.ts';
import { permissionsOf } from './permissions.ts';

/** Something that signs people in with a username and password (local accounts, LDAP). */
export interface PasswordLogin {
  login: IdentityService['login'];
}

export const authRoutes: FastifyPluginAsyncTypebox<{
  identity: IdentityService;
  passwordLogin: PasswordLogin;
  secureCookies: boolean;
}> = async (app, { identity, passwordLogin, secureCookies }) => {
  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'strict', secure: secureCookies } as const;

  function respond(reply: FastifyReply, result: LoginResult) {
    if (result.kind === 'mfa') {
      return {
        mfaRequired: true as const,
        challenge: result.challenge,
        expiresAt: result.expiresAt.toISOString(),
      };
    }
    void reply.setCookie(SESSION_COOKIE, result.token, { ...cookieOptions, expires: result.expiresAt });
    return {
      user: result.user,
      permissions: [...permissionsOf(result.user.role)],
      expiresAt: result.expiresAt.toISOString(),
    };
  }

  const loginErrors = {
    400: ErrorResponse,
    401: ErrorResponse,
    403: ErrorResponse,
    429: ErrorResponse,
  };

  app.post(
    '/api/v1/auth/login',
    {
      config: { access: 'public', consoleLogin: true, rateLimit: 'public' },
      schema: {
        body: LoginBody,
        response: { 200: Type.Union([LoginResponse, MfaChallengeResponse]), ...loginErrors },
      },
    },
    async (request, reply) => respond(reply, await passwordLogin.login(request.body, clientOf(request))),
  );

  app.post(
    '/api/v1/auth/login/second-factor',
    {
      config: { access: 'public', consoleLogin: true, rateLimit: 'public' },
      schema: {
        body: SecondFactorBody,
        response: { 200: Type.Union([LoginResponse, MfaChallengeResponse]), ...loginErrors },
      },
    },
    async (request, reply) =>
      respond(reply, await identity.loginSecondFactor(request.body, clientOf(request))),
  );

  app.post(
    '/api/v1/auth/logout',
    {
      config: { access: 'authenticated', mfaEnrollment: true },
      schema: { response: { 204: Type.Null(), ...authErrors } },
    },
    async (request, reply) => {
      await identity.logout(actorOf(request));
      void reply.clearCookie(SESSION_COOKIE, cookieOptions);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/auth/me',
    {
      config: { access: 'authenticated', mfaEnrollment: true },
      schema: { response: { 200: MeSchema, ...authErrors } },
    },
    async (request) => {
      const actor = actorOf(request);
      return {
        user: await identity.me(actor),
        permissions: [...permissionsOf(actor.role)],
        mfaEnrollmentRequired: actor.mfaEnrollmentRequired ?? false,
      };
    },
  );

  app.post(
    '/api/v1/auth/password',
    {
      config: { access: 'authenticated', mfaEnrollment: true },
      schema: { body: ChangePasswordBody, response: { 204: Type.Null(), ...authErrors, 409: ErrorResponse } },
    },
    async (request, reply) => {
      await identity.changeOwnPassword(actorOf(request), request.body);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/api/v1/auth/sessions',
    {
      config: { access: 'authenticated' },
      schema: { response: { 200: Type.Object({ sessions: Type.Array(SessionSchema) }), ...authErrors } },
    },
    async (request) => ({ sessions: await identity.listSessions(actorOf(request)) }),
  );

  app.delete(
    '/api/v1/auth/sessions/:id',
    {
      config: { access: 'authenticated' },
      schema: { params: IdParams, response: { 204: Type.Null(), ...authErrors, 404: ErrorResponse } },
    },
    async (request, reply) => {
      await identity.revokeSession(actorOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/api/v1/auth/totp/setup',
    {
      config: { access: 'authenticated', mfaEnrollment: true },
      schema: { response: { 200: TotpSetupResponse, ...authErrors, 409: ErrorResponse } },
    },
    async (request) => identity.totpSetup(actorOf(request)),
  );

  app.post(
    '/api/v1/auth/totp/enable',
    {
      config: { access: 'authenticated', mfaEnrollment: true },
      schema: {
        body: TotpEnableBody,
        response: { 200: TotpEnableResponse, ...authErrors, 409: ErrorResponse },
      },
    },
    async (request) => identity.totpEnable(actorOf(request), request.body.code),
  );

  app.post(
    '/api/v1/auth/totp/disable',
    {
      config: { access: 'authenticated' },
      schema: { body: TotpDisableBody, response: { 204: Type.Null(), ...authErrors, 409: ErrorResponse } },
    },
    async (request, reply) => {
      await identity.totpDisable(actorOf(request), request.body);
      return reply.status(204).send(null);
    },
  );
};
