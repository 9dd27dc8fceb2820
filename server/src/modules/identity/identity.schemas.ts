import { Type } from '@fastify/type-provider-typebox';

export const RoleSchema = Type.Union([
  Type.Literal('admin'),
  Type.Literal('supervisor'),
  Type.Literal('agent'),
  Type.Literal('auditor'),
]);

export const UserSchema = Type.Object({
  id: Type.String(),
  username: Type.String(),
  displayName: Type.String(),
  role: RoleSchema,
  teamIds: Type.Array(Type.String()),
  mustChangePassword: Type.Boolean(),
  disabled: Type.Boolean(),
  authSource: Type.Union([Type.Literal('local'), Type.Literal('ldap')]),
  totpEnabled: Type.Boolean(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const MeSchema = Type.Object({
  user: UserSchema,
  permissions: Type.Array(Type.String()),
  /** Security policy wants 2FA for this role: only enrolment is possible until it is set up. */
  mfaEnrollmentRequired: Type.Boolean(),
});

export const MfaChallengeResponse = Type.Object({
  mfaRequired: Type.Literal(true),
  challenge: Type.String(),
  expiresAt: Type.String(),
});

export const SecondFactorBody = Type.Object(
  {
    challenge: Type.String({ minLength: 20, maxLength: 100 }),
    code: Type.Optional(Type.String({ pattern: '^\\s*\\d{6}\\s*$' })),
    recoveryCode: Type.Optional(Type.String({ minLength: 8, maxLength: 20 })),
  },
  { additionalProperties: false },
);

export const SessionSchema = Type.Object({
  id: Type.String(),
  createdAt: Type.String(),
  lastSeenAt: Type.String(),
  expiresAt: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
});

export const TotpSetupResponse = Type.Object({ secret: Type.String(), otpauthUrl: Type.String() });
export const TotpEnableBody = Type.Object(
  { code: Type.String({ pattern: '^\\s*\\d{6}\\s*$' }) },
  { additionalProperties: false },
);
export const TotpEnableResponse = Type.Object({ recoveryCodes: Type.Array(Type.String()) });
export const TotpDisableBody = Type.Object(
  {
    password: Type.String({ minLength: 1, maxLength: 256 }),
    code: Type.String({ pattern: '^\\s*\\d{6}\\s*$' }),
  },
  { additionalProperties: false },
);

export const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export const LoginResponse = Type.Object({
  user: UserSchema,
  permissions: Type.Array(Type.String()),
  expiresAt: Type.String(),
});

export const ChangePasswordBody = Type.Object(
  {
    currentPassword: Type.String({ minLength: 1, maxLength: 256 }),
    newPassword: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export const CreateUserBody = Type.Object(
  {
    username: Type.String({ minLength: 2, maxLength: 64 }),
    displayName: Type.String({ minLength: 1, maxLength: 80 }),
    role: RoleSchema,
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
);

export const CreateUserResponse = Type.Object({
  user: UserSchema,
  oneTimePassword: Type.Union([Type.String(), Type.Null()]),
});

export const UpdateUserBody = Type.Object(
  {
    displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
    role: Type.Optional(RoleSchema),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ResetPasswordResponse = Type.Object({ oneTimePassword: Type.String() });
