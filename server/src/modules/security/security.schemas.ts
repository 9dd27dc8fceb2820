import { Type } from '@fastify/type-provider-typebox';
import { RoleSchema } from '../identity/identity.schemas.ts';

export const SettingsSchema = Type.Object({
  mfaEnforced: Type.Boolean(),
  mfaRequiredRoles: Type.Array(RoleSchema),
  consoleIpAllowList: Type.Array(Type.String()),
  transcriptMasking: Type.Boolean({
    description: 'Phone, PRC ID-card and bank-card numbers typed in chat are stored masked',
  }),
});
export const SettingsPatch = Type.Object(
  {
    mfaEnforced: Type.Optional(Type.Boolean()),
    mfaRequiredRoles: Type.Optional(Type.Array(RoleSchema, { maxItems: 4 })),
    consoleIpAllowList: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 64 }), { maxItems: 200 }),
    ),
    transcriptMasking: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
