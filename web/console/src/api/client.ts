// The console's one HTTP client. Every call goes through `request`, which turns any failure into
// an ApiError (status, stable code, message, field, request id) and reports an ended session
// (401 on anything but the sign-in call itself) to one listener, so the app can send the user
// back to the login page from wherever they were.
import type {
  UpdateContactInput,
  AgentAvailabilityView,
  Conversation,
  InboxCounts,
  ConversationQuery,
  Message,
  SendAck,
  AuditQuery,
  AuditRecord,
  AuditVerifyReport,
  AuditHealth,
  BackupOverview,
  CannedReply,
  Channel,
  Contact,
  ContactSearchResult,
  CreateCannedReplyInput,
  CreateWidgetChannelInput,
  ErasureRequest,
  ErasureResult,
  CreateTeamInput,
  CreateUserInput,
  CreateUserResult,
  ErrorBody,
  LoginOutcome,
  Me,
  ResetPasswordResult,
  SecuritySettings,
  SecuritySettingsPatch,
  SessionInfo,
  Team,
  RoutingRule,
  CreateRoutingRuleInput,
  UpdateRoutingRuleInput,
  RoutingTestInput,
  RoutingTestResult,
  RoutingWebsite,
  TotpEnableResult,
  TotpSetup,
  UpdateCannedReplyInput,
  UpdateTeamInput,
  UpdateUserInput,
  User,
  WidgetSettings,
  WidgetSettingsPatch,
} from './types.ts';
import { businessHoursApi } from './business-hours.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly requestId: string | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { field?: string; details?: Record<string, unknown>; requestId?: string } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = extra.field;
    this.details = extra.details;
    this.requestId = extra.requestId;
  }

  /** Seconds to wait before trying again (429), from the body or the Retry-After header. */
  get retryAfterSeconds(): number | undefined {
    const v = this.details?.retryAfterSeconds;
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  }

  get isNetwork(): boolean {
    return this.status === 0;
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false;
  const error = (value as { error?: unknown }).error;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  );
}

/** Maps a non-2xx response to an ApiError, whatever its body looks like. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const headerRequestId = res.headers.get('x-request-id') ?? undefined;
  if (isErrorBody(body)) {
    const details = { ...(body.error.details ?? {}) };
    const retryHeader = Number(res.headers.get('retry-after'));
    if (details.retryAfterSeconds === undefined && res.status === 429 && Number.isFinite(retryHeader)) {
      details.retryAfterSeconds = retryHeader;
    }
    return new ApiError(res.status, body.error.code, body.error.message, {
      ...(body.error.field ? { field: body.error.field } : {}),
      details,
      ...((body.requestId ?? headerRequestId) ? { requestId: body.requestId ?? headerRequestId } : {}),
    });
  }
  // A proxy's HTML error page, an empty body: keep the status, never show the raw text.
  const code = res.status >= 500 ? 'internal' : res.status === 401 ? 'unauthorized' : 'http_error';
  return new ApiError(
    res.status,
    code,
    `HTTP ${res.status}`,
    headerRequestId ? { requestId: headerRequestId } : {},
  );
}

type Method = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface ApiClientOptions {
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
}

export function createApiClient(opts: ApiClientOptions = {}) {
  const baseUrl = opts.baseUrl ?? '';
  const doFetch =
    opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  const sessionEndedListeners = new Set<(err: ApiError) => void>();

  async function request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await doFetch(`${baseUrl}${path}`, {
        method,
        credentials: 'same-origin',
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (cause) {
      throw new ApiError(0, 'network', cause instanceof Error ? cause.message : 'network error');
    }
    if (!res.ok) {
      const err = await errorFromResponse(res);
      if (err.status === 401 && !path.startsWith('/api/v1/auth/login')) {
        for (const listener of sessionEndedListeners) listener(err);
      }
      throw err;
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  /**
   * A file download read as a stream, so the page can show progress: `onProgress(received,
   * total)` after every chunk (total is null when the server did not say).
   */
  async function download(
    path: string,
    onProgress: (received: number, total: number | null) => void,
  ): Promise<{ blob: Blob; fileName: string | null }> {
    let res: Response;
    try {
      res = await doFetch(`${baseUrl}${path}`, { method: 'GET', credentials: 'same-origin' });
    } catch (cause) {
      throw new ApiError(0, 'network', cause instanceof Error ? cause.message : 'network error');
    }
    if (!res.ok) {
      const err = await errorFromResponse(res);
      if (err.status === 401) for (const listener of sessionEndedListeners) listener(err);
      throw err;
    }
    const length = Number(res.headers.get('content-length'));
    const total = Number.isFinite(length) && length > 0 ? length : null;
    const type = res.headers.get('content-type') ?? 'application/octet-stream';
    const fileName = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? null;
    const chunks: Uint8Array[] = [];
    let received = 0;
    onProgress(0, total);
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        received += value.byteLength;
        onProgress(received, total);
      }
    } else {
      const all = new Uint8Array(await res.arrayBuffer());
      chunks.push(all);
      received = all.byteLength;
      onProgress(received, total);
    }
    return { blob: new Blob(chunks as BlobPart[], { type }), fileName };
  }

  const id = (value: string) => encodeURIComponent(value);
  const query = (params: Record<string, string | number | undefined>) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
    const text = q.toString();
    return text ? `?${text}` : '';
  };

  return {
    request,
    /** Called with the error whenever the server says the session is gone. Returns an unsubscribe. */
    onSessionEnded(listener: (err: ApiError) => void): () => void {
      sessionEndedListeners.add(listener);
      return () => sessionEndedListeners.delete(listener);
    },

    auth: {
      login: (username: string, password: string) =>
        request<LoginOutcome>('POST', '/api/v1/auth/login', { username, password }),
      /** Second step of a two-factor sign-in: a 6-digit code, or one of the recovery codes. */
      secondFactor: (challenge: string, answer: { code: string } | { recoveryCode: string }) =>
        request<LoginOutcome>('POST', '/api/v1/auth/login/second-factor', { challenge, ...answer }),
      logout: () => request<void>('POST', '/api/v1/auth/logout'),
      me: () => request<Me>('GET', '/api/v1/auth/me'),
      changePassword: (currentPassword: string, newPassword: string) =>
        request<void>('POST', '/api/v1/auth/password', { currentPassword, newPassword }),
      totpSetup: () => request<TotpSetup>('POST', '/api/v1/auth/totp/setup'),
      totpEnable: (code: string) => request<TotpEnableResult>('POST', '/api/v1/auth/totp/enable', { code }),
      totpDisable: (password: string, code: string) =>
        request<void>('POST', '/api/v1/auth/totp/disable', { password, code }),
      sessions: async () =>
        (await request<{ sessions: SessionInfo[] }>('GET', '/api/v1/auth/sessions')).sessions,
      revokeSession: (sessionId: string) => request<void>('DELETE', `/api/v1/auth/sessions/${id(sessionId)}`),
    },

    users: {
      list: async () => (await request<{ users: User[] }>('GET', '/api/v1/users')).users,
      create: (input: CreateUserInput) => request<CreateUserResult>('POST', '/api/v1/users', input),
      update: (userId: string, patch: UpdateUserInput) =>
        request<User>('PATCH', `/api/v1/users/${id(userId)}`, patch),
      resetPassword: (userId: string) =>
        request<ResetPasswordResult>('POST', `/api/v1/users/${id(userId)}/reset-password`),
    },

    teams: {
      list: async () => (await request<{ teams: Team[] }>('GET', '/api/v1/teams')).teams,
      create: (input: CreateTeamInput) => request<Team>('POST', '/api/v1/teams', input),
      update: (teamId: string, patch: UpdateTeamInput) =>
        request<Team>('PATCH', `/api/v1/teams/${id(teamId)}`, patch),
      remove: (teamId: string) => request<void>('DELETE', `/api/v1/teams/${id(teamId)}`),
      addMember: (teamId: string, userId: string) =>
        request<Team>('PUT', `/api/v1/teams/${id(teamId)}/members/${id(userId)}`),
      removeMember: (teamId: string, userId: string) =>
        request<Team>('DELETE', `/api/v1/teams/${id(teamId)}/members/${id(userId)}`),
    },

    routing: {
      rules: async (channelId: string) =>
        (await request<{ rules: RoutingRule[] }>('GET', `/api/v1/routing/rules${query({ channelId })}`))
          .rules,
      create: (input: CreateRoutingRuleInput) => request<RoutingRule>('POST', '/api/v1/routing/rules', input),
      update: (ruleId: string, patch: UpdateRoutingRuleInput) =>
        request<RoutingRule>('PATCH', `/api/v1/routing/rules/${id(ruleId)}`, patch),
      remove: (ruleId: string) => request<void>('DELETE', `/api/v1/routing/rules/${id(ruleId)}`),
      reorder: async (channelId: string, ruleIds: string[]) =>
        (await request<{ rules: RoutingRule[] }>('PUT', '/api/v1/routing/rule-order', { channelId, ruleIds }))
          .rules,
      test: (input: RoutingTestInput) => request<RoutingTestResult>('POST', '/api/v1/routing/test', input),
      websites: async () =>
        (await request<{ websites: RoutingWebsite[] }>('GET', '/api/v1/routing/websites')).websites,
      setDefaultTeam: (channelId: string, teamId: string | null) =>
        request<RoutingWebsite>('PUT', `/api/v1/routing/websites/${id(channelId)}/default-team`, { teamId }),
    },

    availability: {
      list: () => request<{ agents: AgentAvailabilityView[] }>('GET', '/api/v1/availability'),
      setOwn: (status: AgentAvailabilityView['status']) =>
        request<AgentAvailabilityView>('PUT', '/api/v1/availability/me', { status }),
    },

    conversations: {
      list: (q: ConversationQuery) =>
        request<{ conversations: Conversation[]; nextCursor: string | null }>(
          'GET',
          `/api/v1/conversations${query(q)}`,
        ),
      counts: () => request<InboxCounts>('GET', '/api/v1/conversations/counts'),
      get: (conversationId: string) =>
        request<Conversation>('GET', `/api/v1/conversations/${id(conversationId)}`),
      messages: async (
        conversationId: string,
        q: { afterSeq?: number; beforeSeq?: number; limit?: number } = {},
      ) =>
        (
          await request<{ messages: Message[] }>(
            'GET',
            `/api/v1/conversations/${id(conversationId)}/messages${query(q)}`,
          )
        ).messages,
      send: (conversationId: string, body: { clientId: string; text: string; private?: boolean }) =>
        request<SendAck>('POST', `/api/v1/conversations/${id(conversationId)}/messages`, body),
      markRead: (conversationId: string, seq: number) =>
        request<{ readSeq: number }>('POST', `/api/v1/conversations/${id(conversationId)}/read`, { seq }),
      claim: (conversationId: string) =>
        request<Conversation>('POST', `/api/v1/conversations/${id(conversationId)}/claim`),
      resolve: (conversationId: string) =>
        request<Conversation>('POST', `/api/v1/conversations/${id(conversationId)}/resolve`),
      reopen: (conversationId: string) =>
        request<Conversation>('POST', `/api/v1/conversations/${id(conversationId)}/reopen`),
      transfer: (conversationId: string, assigneeId: string, note?: string) =>
        request<Conversation>('POST', `/api/v1/conversations/${id(conversationId)}/transfer`, {
          assigneeId,
          ...(note ? { note } : {}),
        }),
      snooze: (conversationId: string, until: Date) =>
        request<Conversation>('POST', `/api/v1/conversations/${id(conversationId)}/snooze`, {
          until: until.toISOString(),
        }),
      /** Where an attachment is uploaded (multipart, one part named `file`); see lib/upload.ts. */
      uploadUrl: (conversationId: string, clientId: string, isPrivate: boolean) =>
        `${baseUrl}/api/v1/conversations/${id(conversationId)}/attachments${query({
          clientId,
          ...(isPrivate ? { private: 'true' } : {}),
        })}`,
      attachmentUrl: (attachmentId: string) => `${baseUrl}/api/v1/attachments/${id(attachmentId)}`,
      /** A masked message as typed (pii.reveal; audited on the server). */
      recallMessage: (messageId: string) =>
        request<Message>('POST', `/api/v1/messages/${id(messageId)}/recall`),
      editMessage: (messageId: string, text: string) =>
        request<Message>('PATCH', `/api/v1/messages/${id(messageId)}`, { text }),
      setPriority: (conversationId: string, priority: Conversation['priority']) =>
        request<Conversation>('POST', `/api/v1/conversations/${id(conversationId)}/priority`, { priority }),
      revealMessage: (messageId: string) =>
        request<{ id: string; text: string }>('POST', `/api/v1/messages/${id(messageId)}/reveal`),
    },

    audit: {
      records: async (filter: AuditQuery) =>
        (await request<{ records: AuditRecord[] }>('GET', `/api/v1/audit/records${query(filter)}`)).records,
      verify: () => request<AuditVerifyReport>('GET', '/api/v1/audit/verify'),
      health: () => request<AuditHealth>('GET', '/api/v1/audit/health'),
      /** A download link (the browser fetches it with the session cookie). */
      exportUrl: (filter: Omit<AuditQuery, 'afterSeq' | 'limit'>, format: 'csv' | 'jsonl') =>
        `${baseUrl}/api/v1/audit/export${query({ ...filter, format })}`,
    },

    security: {
      settings: () => request<SecuritySettings>('GET', '/api/v1/security/settings'),
      update: (patch: SecuritySettingsPatch) =>
        request<SecuritySettings>('PATCH', '/api/v1/security/settings', patch),
    },

    cannedReplies: {
      list: async () =>
        (await request<{ cannedReplies: CannedReply[] }>('GET', '/api/v1/canned-replies')).cannedReplies,
      create: (input: CreateCannedReplyInput) =>
        request<CannedReply>('POST', '/api/v1/canned-replies', input),
      update: (replyId: string, patch: UpdateCannedReplyInput) =>
        request<CannedReply>('PATCH', `/api/v1/canned-replies/${id(replyId)}`, patch),
      remove: (replyId: string) => request<void>('DELETE', `/api/v1/canned-replies/${id(replyId)}`),
    },

    backups: {
      overview: () => request<BackupOverview>('GET', '/api/v1/backups'),
    },

    channels: {
      list: async () => (await request<{ channels: Channel[] }>('GET', '/api/v1/channels')).channels,
      createWidget: (input: CreateWidgetChannelInput) =>
        request<WidgetSettings>('POST', '/api/v1/channels', input),
      widget: (channelId: string) =>
        request<WidgetSettings>('GET', `/api/v1/channels/${id(channelId)}/widget`),
      updateWidget: (channelId: string, patch: WidgetSettingsPatch) =>
        request<WidgetSettings>('PATCH', `/api/v1/channels/${id(channelId)}/widget`, patch),
    },

    contacts: {
      search: (q: string) => request<ContactSearchResult>('GET', `/api/v1/contacts${query({ q })}`),
      get: (contactId: string) => request<Contact>('GET', `/api/v1/contacts/${id(contactId)}`),
      update: (contactId: string, patch: UpdateContactInput) =>
        request<Contact>('PATCH', `/api/v1/contacts/${id(contactId)}`, patch),
      /** Unmasked personal data; the server records who asked in the audit trail. */
      reveal: (contactId: string) => request<Contact>('POST', `/api/v1/contacts/${id(contactId)}/reveal`),
      /** The data-subject archive (tar), with download progress. */
      export: (contactId: string, onProgress: (received: number, total: number | null) => void) =>
        download(`/api/v1/contacts/${id(contactId)}/export`, onProgress),
      requestErasure: (contactId: string) =>
        request<ErasureRequest>('POST', `/api/v1/contacts/${id(contactId)}/erasure-request`),
      erase: (contactId: string, confirmation: string) =>
        request<ErasureResult>('POST', `/api/v1/contacts/${id(contactId)}/erase`, { confirmation }),
    },

    businessHours: businessHoursApi(request, id),
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;

/** The client the app uses. */
export const api = createApiClient();
