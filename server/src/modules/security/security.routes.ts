import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@fastify/type-provider-typebox';
import { actorOf } from '../../platform/http/auth.plugin.ts';
import { ErrorResponse, authErrors } from '../../platform/http/schemas.ts';
import { RoleSchema } from '../identity/identity.schemas.ts';
import type { SecurityService } from './security.service.ts';

const SettingsSchema = Type.Object({
  mfaEnforced: Type.Boolean(),
  mfaRequiredRoles: Type.Array(RoleSchema),
  consoleIpAllowList: Type.Array(Type.String()),
});
const SettingsPatch = Type.Object(
  {
    mfaEnforced: Type.Optional(Type.Boolean()),
    mfaRequiredRoles: Type.Optional(Type.Array(RoleSchema, { maxItems: 4 })),
    consoleIpAllowList: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { maxItems: 200 }),
    ),
  },
  { additionalProperties: false },
);

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
