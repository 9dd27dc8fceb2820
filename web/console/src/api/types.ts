// API shapes, derived from the server's own TypeBox schemas so they are never written twice.
import type { Static } from 'typebox';
import type {
  CreateUserBody,
  CreateUserResponse,
  LoginResponse,
  MeSchema,
  MfaChallengeResponse,
  SessionSchema,
  TotpEnableResponse,
  TotpSetupResponse,
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
import type {
  AuditListQuery,
  AuditRecordSchema,
  VerifyReportSchema,
  AuditHealthSchema,
} from '../../../../server/src/modules/audit/audit.schemas.ts';
import type {
  SettingsPatch,
  SettingsSchema,
} from '../../../../server/src/modules/security/security.schemas.ts';
import type { BackupOverviewSchema } from '../../../../server/src/modules/backup/backup.schemas.ts';
import type {
  Ack,
  AgentConversation,
  InboxCountsResponse,
  ListQuery,
  MessageView,
} from '../../../../server/src/modules/conversations/conversations.schemas.ts';
import type {
  ContactSchema,
  ContactSearchResponse,
  UpdateContactBody,
} from '../../../../server/src/modules/contacts/contacts.schemas.ts';
import type {
  CreateWidgetChannelBody,
  WidgetSettingsPatch as WidgetSettingsPatchSchema,
  WidgetSettingsResponse,
} from '../../../../server/src/modules/widget/widget.schemas.ts';
import type {
  CreateRuleBody,
  RuleView,
  TestBody as RoutingTestBody,
  TestResult as RoutingTestResultSchema,
  UpdateRuleBody,
  WebsiteView,
} from '../../../../server/src/modules/routing/routing-rules.schemas.ts';
import type { AvailabilityView } from '../../../../server/src/modules/availability/availability.schemas.ts';
import type { ChannelsResponse } from '../../../../server/src/modules/conversations/conversations.schemas.ts';
import type { ErrorBody } from '../../../../server/src/platform/http/errors.plugin.ts';
import type { Permission } from '../../../../server/src/modules/identity/permissions.ts';

export type { ErrorBody, Permission };
export type Role = Static<typeof RoleSchema>;
export type User = Static<typeof UserSchema>;
export type Me = Static<typeof MeSchema>;
export type LoginResult = Static<typeof LoginResponse>;
/** The password was right but the account uses two-factor sign-in: a code is needed next. */
export type MfaChallenge = Static<typeof MfaChallengeResponse>;
export type LoginOutcome = LoginResult | MfaChallenge;
export type SessionInfo = Static<typeof SessionSchema>;
export type TotpSetup = Static<typeof TotpSetupResponse>;
export type TotpEnableResult = Static<typeof TotpEnableResponse>;
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
export type AuditRecord = Static<typeof AuditRecordSchema>;
export type AuditQuery = Static<typeof AuditListQuery>;
export type AuditVerifyReport = Static<typeof VerifyReportSchema>;
/** Age of the newest signed checkpoint and external anchor, with an alert state (issue 21). */
export type AuditHealth = Static<typeof AuditHealthSchema>;
export type SecuritySettings = Static<typeof SettingsSchema>;
export type SecuritySettingsPatch = Static<typeof SettingsPatch>;
export type BackupOverview = Static<typeof BackupOverviewSchema>;
export type Conversation = Static<typeof AgentConversation>;
/** Per inbox tab: open conversations where work waits for the reader. */
export type InboxCounts = Static<typeof InboxCountsResponse>;
/** A colleague's chosen availability and whether their console is connected. */
export type AgentAvailabilityView = Static<typeof AvailabilityView>;
export type ConversationQuery = Static<typeof ListQuery>;
export type Message = Static<typeof MessageView>;
export type SendAck = Static<typeof Ack>;
export type Channel = Static<typeof ChannelsResponse>['channels'][number];
export type WidgetSettings = Static<typeof WidgetSettingsResponse>;
export type WidgetSettingsPatch = Static<typeof WidgetSettingsPatchSchema>;
export type CreateWidgetChannelInput = Static<typeof CreateWidgetChannelBody>;
export type Contact = Static<typeof ContactSchema>;
export type ContactSearchResult = Static<typeof ContactSearchResponse>;
/** Step 1 of an erasure: what would go, and the token that confirms it (10 minutes). */
export interface ErasureRequest {
  confirmation: string;
  expiresAt: string;
  conversations: number;
  messages: number;
  attachments: number;
}
export type ErasureResult = Omit<ErasureRequest, 'confirmation' | 'expiresAt'>;
export type UpdateContactInput = Static<typeof UpdateContactBody>;
/** Routing rules (docs/ROUTING.md "Rules"). */
export type RoutingRule = Static<typeof RuleView>;
export type RoutingCondition = RoutingRule['conditions'][number];
export type CreateRoutingRuleInput = Static<typeof CreateRuleBody>;
export type UpdateRoutingRuleInput = Static<typeof UpdateRuleBody>;
export type RoutingTestInput = Static<typeof RoutingTestBody>;
export type RoutingTestResult = Static<typeof RoutingTestResultSchema>;
export type RoutingWebsite = Static<typeof WebsiteView>;
