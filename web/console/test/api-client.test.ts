import { describe, expect, it } from 'vitest';
import { ApiError, createApiClient } from '../src/api/client.ts';

type Call = { url: string; init: RequestInit | undefined };

function clientAnswering(respond: (url: string) => Response | Promise<Response>) {
  const calls: Call[] = [];
  const client = createApiClient({
    fetch: async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      calls.push({ url, init });
      return respond(url);
    },
  });
  return { client, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

async function failure(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected the call to fail');
}

describe('the API client', () => {
  it('sends JSON with the session cookie and returns the parsed body', async () => {
    const { client, calls } = clientAnswering(() =>
      json(200, { user: { username: 'ann' }, permissions: ['users.read'], expiresAt: 'x' }),
    );
    const result = await client.auth.login('ann', 'secret-password');
    expect('user' in result && result.user.username).toBe('ann');
    expect(calls[0]!.url).toBe('/api/v1/auth/login');
    expect(calls[0]!.init?.method).toBe('POST');
    expect(calls[0]!.init?.credentials).toBe('same-origin');
    expect(new Headers(calls[0]!.init?.headers).get('content-type')).toBe('application/json');
    expect(JSON.parse(calls[0]!.init?.body as string)).toEqual({
      username: 'ann',
      password: 'secret-password',
    });
  });

  it('maps an error body to code, message, field and request id', async () => {
    const { client } = clientAnswering(() =>
      json(409, {
        error: {
          code: 'conflict',
          message: 'username: "ann" is taken',
          field: 'username',
          details: { field: 'username' },
        },
        requestId: 'req-12345678',
      }),
    );
    const err = await failure(client.users.create({ username: 'ann', displayName: 'Ann', role: 'agent' }));
    expect(err).toMatchObject({
      status: 409,
      code: 'conflict',
      message: 'username: "ann" is taken',
      field: 'username',
      requestId: 'req-12345678',
    });
  });

  it('gives the lockout wait from the body, or from Retry-After when the body lacks it', async () => {
    const fromBody = clientAnswering(() =>
      json(429, {
        error: { code: 'login_locked', message: 'Too many', details: { retryAfterSeconds: 45 } },
        requestId: 'r1234567',
      }),
    );
    expect((await failure(fromBody.client.auth.login('a', 'b'))).retryAfterSeconds).toBe(45);
    const fromHeader = clientAnswering(() =>
      json(
        429,
        { error: { code: 'too_many_requests', message: 'slow down' }, requestId: 'r1234567' },
        { 'retry-after': '12' },
      ),
    );
    expect((await failure(fromHeader.client.auth.login('a', 'b'))).retryAfterSeconds).toBe(12);
  });

  it('never passes on a non-JSON error page, and marks network failures', async () => {
    const proxy = clientAnswering(() => new Response('<html>Bad Gateway</html>', { status: 502 }));
    const err = await failure(proxy.client.users.list());
    expect(err).toMatchObject({ status: 502, code: 'internal' });
    expect(err.message).not.toContain('html');

    const offline = createApiClient({
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
    });
    const net = await failure(offline.users.list());
    expect(net.status).toBe(0);
    expect(net.code).toBe('network');
    expect(net.isNetwork).toBe(true);
  });

  it('reports an ended session on any 401 except a failed sign-in', async () => {
    const { client } = clientAnswering(() =>
      json(401, {
        error: { code: 'unauthorized', message: 'Your session has ended.' },
        requestId: 'r1234567',
      }),
    );
    const ended: ApiError[] = [];
    const stop = client.onSessionEnded((e) => ended.push(e));
    await failure(client.auth.login('ann', 'wrong'));
    expect(ended).toHaveLength(0);
    await failure(client.teams.list());
    expect(ended).toHaveLength(1);
    expect(ended[0]!.status).toBe(401);
    stop();
    await failure(client.teams.list());
    expect(ended).toHaveLength(1);
  });

  it('returns nothing for 204 and escapes ids in paths', async () => {
    const { client, calls } = clientAnswering(() => new Response(null, { status: 204 }));
    await expect(client.teams.remove('a/b?c')).resolves.toBeUndefined();
    expect(calls[0]!.url).toBe('/api/v1/teams/a%2Fb%3Fc');
  });
});
