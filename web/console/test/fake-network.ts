// The network as the console's component tests answer it: each test queues replies per
// "METHOD url" and reads back the requests the page made. Everything else in the tests is real
// (pages, router, stores, API client); only fetch is replaced.
import { vi } from 'vitest';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A streamed body (downloads), instead of `body`. */
  stream?: ReadableStream<Uint8Array>;
}

export interface Request {
  method: string;
  url: string;
  body: unknown;
}

export const errorBody = (
  code: string,
  message: string,
  extra: { field?: string; details?: object } = {},
) => ({
  error: { code, message, ...extra },
  requestId: 'req-00000001',
});

/** Replaces fetch; call in beforeEach (vi.unstubAllGlobals() in afterEach undoes it). */
export function fakeNetwork() {
  const replies: Record<string, Reply[]> = {};
  const requests: Request[] = [];
  vi.stubGlobal('fetch', async (input: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    requests.push({ method, url: input, body: init?.body ? JSON.parse(init.body as string) : undefined });
    const next = replies[`${method} ${input}`]?.shift() ?? {
      status: 404,
      body: errorBody('not_found', `no answer for ${method} ${input}`),
    };
    return new Response(next.stream ?? (next.body === undefined ? null : JSON.stringify(next.body)), {
      status: next.status,
      headers: { 'content-type': 'application/json', ...next.headers },
    });
  });
  return {
    requests,
    answer(method: string, url: string, ...r: Reply[]) {
      (replies[`${method} ${url}`] ??= []).push(...r);
    },
  };
}
