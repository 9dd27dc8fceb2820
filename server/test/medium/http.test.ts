import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createContainer } from '../../src/container.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { PERMISSIONS } from '../../src/modules/identity/permissions.ts';
import { createTestDatabase } from '../support/db.ts';
import { signIn, type TestApp } from '../support/app.ts';

// This file builds its app by hand to capture the logs and to add a route that fails.
const database = await createTestDatabase();
const logLines: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, done) {
    logLines.push(chunk.toString('utf8'));
    done();
  },
});
const config = loadConfig({
  DATABASE_URL: database.url,
  PARLEY_LOG_LEVEL: 'info',
  PARLEY_METRICS_TOKEN: 'scrape-me',
});
const logger = createLogger('info', sink);
const handle = openDatabase(database.url, { max: 5, connectTimeoutMs: 5000, logger });
const container = createContainer({ config, db: handle.db, logger });
const app = await buildApp(container, { logger });
app.get('/api/v1/test/explode', { config: { access: 'public' } }, async () => {
  throw new Error('connection string postgres://secret@db is broken');
});
container.health.markPrepared();
await app.ready();
const t: TestApp = { app, container, database, config };

describe('HTTP behaviour', () => {
  it('every route declares the access it needs', () => {
    expect(app.routeAccessTable.length).toBeGreaterThan(10);
    const allowed = new Set<string>(['public', 'authenticated', ...PERMISSIONS]);
    for (const route of app.routeAccessTable) {
      expect(route.access, `${route.method} ${route.url}`).toBeDefined();
      expect(allowed.has(route.access!), `${route.method} ${route.url}: ${route.access}`).toBe(true);
    }
    // The API is never public except for sign-in (password, then the second factor) and the version.
    // The visitor widget's routes are 'public' to the cookie check and authenticate the visitor
    // token in the service (conversations.test.ts checks them).
    const publicApi = app.routeAccessTable
      .filter(
        (r) =>
          r.access === 'public' &&
          r.url.startsWith('/api/v1/') &&
          !r.url.includes('/test/') &&
          !r.url.startsWith('/api/v1/widget/'),
      )
      .map((r) => `${r.method} ${r.url}`);
    expect(publicApi.sort()).toEqual([
      'GET /api/v1/version',
      'POST /api/v1/auth/login',
      'POST /api/v1/auth/login/second-factor',
    ]);
  });

  it('rejects bad input with 400 naming the field, and changes nothing', async () => {
    const admin = await signIn(t, 'admin');
    const before = await container.db.selectFrom('users').select('id').execute();
    const cases: [object, string, RegExp][] = [
      [{ username: 'x', displayName: 'X', role: 'agent' }, 'username', /fewer than 2 characters/],
      [{ username: 'xavier', displayName: 'X', role: 'boss' }, 'role', /.+/],
      [{ username: 'xavier', role: 'agent' }, 'displayName', /is required/],
      [{ username: 'xavier', displayName: 'X', role: 'agent', isAdmin: true }, 'isAdmin', /unknown field/],
      [{ username: 'Bad Name!', displayName: 'X', role: 'agent' }, 'username', /letters, digits/],
    ];
    for (const [payload, field, message] of cases) {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: { cookie: admin.cookie },
        payload,
      });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error.field).toBe(field);
      expect(res.json().error.message).toMatch(message);
      expect(res.json().requestId).toBe(res.headers['x-request-id']);
    }
    const malformed = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"username": ',
    });
    expect(malformed.statusCode).toBe(400);
    const after = await container.db.selectFrom('users').select('id').execute();
    expect(after).toHaveLength(before.length);
  });

  it('answers unexpected errors with 500 and a request id, never the internals, and logs them', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/test/explode',
      headers: { 'x-request-id': 'req-abcdef123' },
    });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toMatch(/postgres|secret|broken|stack/i);
    expect(res.json()).toEqual({
      error: { code: 'internal', message: expect.stringContaining('req-abcdef123') },
      requestId: 'req-abcdef123',
    });
    const logged = logLines.find((l) => l.includes('req-abcdef123') && l.includes('unexpected error'));
    expect(logged).toBeDefined();
  });

  it('never logs passwords or session cookies', async () => {
    const user = await signIn(t, 'agent');
    await app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie: user.cookie } });
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.username, password: 'guess-0000-x' },
    });
    const all = logLines.join('');
    expect(all).not.toContain(user.password);
    expect(all).not.toContain('guess-0000-x');
    expect(all).not.toContain(user.cookie.split('=')[1]!);
  });

  it('sends security headers and a strict CSP', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok' });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('readyz reports the database and the schema', async () => {
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      ready: true,
      checks: { database: { ok: true }, migrations: { ok: true } },
    });
  });

  it('metrics need the configured token and speak the Prometheus format', async () => {
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    const res = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: 'Bearer scrape-me' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(/^# HELP parley_http_requests_total/m);
    expect(res.body).toMatch(/parley_process_resident_memory_bytes \d+/);
  });

  it('unknown API paths are a JSON 404', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});
