import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, authErrors } from '../../platform/http/schemas.ts';
import { SettingsPatch, SettingsSchema } from './security.schemas.ts';
import type { SecurityService } from './security.service.ts';

export const securityRoutes: FastifyPluginAsyncTypebox<{ security: SecurityService }> = async (
  app,
  { security },
) => {
  app.get(
    '/api/v1/security/settings',
    { config: { access: 'security.manage' }, schema: { response: { 200: SettingsSchema, ...authErrors } } },
    async (request) => security.getForActor(actorOf(request)),
  );
  app.patch(
    '/api/v1/security/settings',
    {
      config: { access: 'security.manage' },
      schema: { body: SettingsPatch, response: { 200: SettingsSchema, ...authErrors, 409: ErrorResponse } },
    },
    async (request) => security.update(actorOf(request), request.body),
  );
};
