// API shapes, derived from the server's own TypeBox schemas so they are never written twice.
import type { Static } from 'typebox';
import type {
  CreateUserBody,
  CreateUserResponse,
  LoginResponse,
  MeSchema,
  ResetPasswordResponse,
  RoleSchema,
  UpdateUserBody,
  UserSchema,
} from '../../../../server/src/modules/identity/identity.schemas.ts';
import type {
  CreateTeamBody,
  TeamSchema,
  UpdateTeamBody,
} from '../../../../server/src/modules/teams/teams.schemas.ts';
import type {
  CannedReplySchema,
  CreateCannedReplyBody,
  UpdateCannedReplyBody,
} from '../../../../server/src/modules/canned-replies/canned-replies.schemas.ts';
import type { BackupOverviewSchema } from '../../../../server/src/modules/backup/backup.schemas.ts';
import type { ErrorBody } from '../../../../server/src/platform/http/errors.plugin.ts';
import type { Permission } from '../../../../server/src/modules/identity/permissions.ts';

export type { ErrorBody, Permission };
export type Role = Static<typeof RoleSchema>;
export type User = Static<typeof UserSchema>;
export type Me = Static<typeof MeSchema>;
export type LoginResult = Static<typeof LoginResponse>;
export type CreateUserInput = Static<typeof CreateUserBody>;
export type CreateUserResult = Static<typeof CreateUserResponse>;
export type UpdateUserInput = Static<typeof UpdateUserBody>;
export type ResetPasswordResult = Static<typeof ResetPasswordResponse>;
export type Team = Static<typeof TeamSchema>;
export type CreateTeamInput = Static<typeof CreateTeamBody>;
export type UpdateTeamInput = Static<typeof UpdateTeamBody>;
export type CannedReply = Static<typeof CannedReplySchema>;
export type CannedReplyScope = CannedReply['scope'];
export type CreateCannedReplyInput = Static<typeof CreateCannedReplyBody>;
export type UpdateCannedReplyInput = Static<typeof UpdateCannedReplyBody>;
export type BackupOverview = Static<typeof BackupOverviewSchema>;
