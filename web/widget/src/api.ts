// The visitor HTTP API (same origin as the frame). The visitor token is a bearer header.
import type {
  MessageView,
  SourcePage,
  VisitorConversationView,
} from '../../../server/src/realtime/events.ts';
import type { LeaveMessageInput, SiteHours } from './off-hours.ts';

export interface WidgetConfig {
  siteKey: string;
  name: string;
  color: string;
  greeting: string;
  preChatForm: boolean;
}

export interface UploadAck {
  clientId: string;
  seq: number;
  message: MessageView;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call<T>(path: string, init: RequestInit & { token?: string | null } = {}): Promise<T> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  if (typeof init.body === 'string') headers.set('content-type', 'application/json');
  const res = await fetch(path, { ...init, headers, credentials: 'omit' });
  if (!res.ok) {
    let code = 'http_error';
    let message = res.statusText;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      // not JSON
    }
    throw new ApiError(res.status, code, message);
  }
  return (await res.json()) as T;
}

export function createApi() {
  return {
    config: (site: string) => call<WidgetConfig>(`/api/v1/widget/config?site=${encodeURIComponent(site)}`),
    session: (body: {
      token?: string;
      channelId: string;
      userId?: string;
      userHash?: string;
      name?: string;
    }) =>
      call<{ token: string; contactId: string; verified: boolean }>('/api/v1/widget/session', {
        method: 'POST',
        body: JSON.stringify(body),
      }),
    openConversation: (token: string, sourcePage?: SourcePage, language?: string) =>
      call<VisitorConversationView>('/api/v1/widget/conversations', {
        method: 'POST',
        token,
        body: JSON.stringify({ ...(sourcePage ? { sourcePage } : {}), ...(language ? { language } : {}) }),
      }),
    profile: (token: string, body: { name?: string; phone?: string; consent: boolean }) =>
      call<unknown>('/api/v1/widget/profile', { method: 'POST', token, body: JSON.stringify(body) }),
    hours: (site: string) => call<SiteHours>(`/api/v1/widget/hours?site=${encodeURIComponent(site)}`),
    leaveMessage: (token: string, body: LeaveMessageInput & { clientId: string }) =>
      call<{ conversationId: string; nextOpening: string | null }>('/api/v1/widget/leave-message', {
        method: 'POST',
        token,
        body: JSON.stringify(body),
      }),
    upload: (token: string, conversationId: string, clientId: string, file: File) => {
      const form = new FormData();
      form.append('file', file, file.name);
      return call<UploadAck>(
        `/api/v1/widget/conversations/${conversationId}/attachments?clientId=${encodeURIComponent(clientId)}`,
        { method: 'POST', token, body: form },
      );
    },
    async attachment(token: string, id: string): Promise<Blob> {
      const res = await fetch(`/api/v1/widget/attachments/${id}`, {
        headers: { authorization: `Bearer ${token}` },
        credentials: 'omit',
      });
      if (!res.ok) throw new ApiError(res.status, 'http_error', res.statusText);
      return res.blob();
    },
  };
}

export type Api = ReturnType<typeof createApi>;
