// Real Parley server processes for end-to-end tests: `node server/src/cli/main.ts serve`
// against a test database, on a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { afterAll } from 'vitest';
import { startOnFreePort } from './ports.ts';
import { PROCESS_START_MS } from './process.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const p of running) p.kill('SIGKILL');
});

export interface ServerProcess {
  port: number;
  pid: number;
  base: string;
  wsBase: string;
  output: () => string;
  /** SIGKILL: no shutdown at all. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  output: () => string,
  exited: () => boolean,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // (Checked first: another process that holds the port could answer the check.)
    if (exited())
      throw new Error(`the server exited before ${what}. Server output:\n${output().slice(-3000)}`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not happen in ${timeoutMs} ms. Server output:\n${output().slice(-3000)}`);
}

/** PID of a server's LISTEN backend (its application_name carries the server's pid). */
export async function listenBackendPid(databaseUrl: string, serverPid: number): Promise<number | null> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const r = await c.query<{ pid: number }>(
      'select pid from pg_stat_activity where application_name = $1 and datname = current_database()',
      [`parley-listen:${serverPid}`],
    );
    return r.rows[0]?.pid ?? null;
  } finally {
    await c.end();
  }
}

/** LISTEN backends on this database: [backend pid, server process pid]. */
export async function listenBackends(databaseUrl: string): Promise<[number, number][]> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const r = await c.query<{ pid: number; app: string }>(
      `select pid, application_name as app from pg_stat_activity
        where application_name like 'parley-listen:%' and datname = current_database()`,
    );
    return r.rows.map((x) => [x.pid, Number(x.app.slice('parley-listen:'.length))]);
  } finally {
    await c.end();
  }
}

/**
 * A `parley serve` on a free port (support/ports.ts), started again on another one if the port
 * turns out taken, or on the port given. `env` may depend on the port (PARLEY_PUBLIC_URL names it).
 */
export async function startServer(
  databaseUrl: string,
  env: Record<string, string> | ((port: number) => Record<string, string>) = {},
  /** A given port (a restart "on the same address", a URL already handed out): no retry elsewhere. */
  port?: number,
): Promise<ServerProcess> {
  const envFor = (p: number) => (typeof env === 'function' ? env(p) : env);
  if (port !== undefined) return startOn(databaseUrl, envFor(port), port);
  return startOnFreePort((p) => startOn(databaseUrl, envFor(p), p));
}

async function startOn(databaseUrl: string, env: Record<string, string>, p: number): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['server/src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: String(p),
      PARLEY_LOG_LEVEL: 'warn',
      // Off unless the test turns it on (see createTestApp in support/app.ts for why).
      PARLEY_ROUTING_ENABLED: 'false',
      PARLEY_ENV_FILE: '/nonexistent',
      PARLEY_INITIAL_ADMIN_PASSWORD: 'e2e-admin-password-0123',
      PARLEY_SHUTDOWN_TIMEOUT_SECONDS: '2',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  child.stderr.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  let hasExited = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      hasExited = true;
      running.delete(child);
      resolve();
    }),
  );
  const output = () => out;
  const base = `http://127.0.0.1:${p}`;
  // Several workers (PARLEY_WORKERS) start one process each: give them longer.
  const workers = Number(env.PARLEY_WORKERS ?? 1);
  await waitUntil(
    'readiness',
    // (A bounded request: whatever holds a taken port may never answer.)
    async () => (await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) })).status === 200,
    workers > 1 ? 2 * PROCESS_START_MS : PROCESS_START_MS,
    output,
    () => hasExited,
  );
  // Ready for fan-out once its LISTEN connection is up (with PARLEY_WORKERS: every worker's).
  await waitUntil(
    'LISTEN',
    async () =>
      workers > 1
        ? (await listenBackends(databaseUrl)).length >= workers
        : (await listenBackendPid(databaseUrl, child.pid!)) !== null,
    PROCESS_START_MS,
    output,
    () => hasExited,
  );
  return {
    port: p,
    pid: child.pid!,
    base,
    wsBase: `ws://127.0.0.1:${p}`,
    output,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
      running.delete(child);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      running.delete(child);
    },
  };
}

export async function login(base: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return res.headers.getSetCookie()[0]!.split(';')[0]!;
}

/**
 * A JSON caller of a server's HTTP API as a signed-in console user (same-origin, like the console):
 * throws on any status from 300 up, naming the call and the answer.
 */
export function consoleApi(base: () => string, cookie: () => string) {
  return async function api<T = Record<string, unknown>>(
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = { cookie: cookie() },
  ): Promise<T> {
    const res = await fetch(`${base()}${url}`, {
      method,
      headers: {
        origin: base(),
        ...headers,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
}

export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A new anonymous visitor on `base` with its (new) conversation. */
export async function visitorOn(base: string): Promise<{ token: string; conversationId: string }> {
  const session = await postJson(`${base}/api/v1/widget/session`, {});
  const token = session.json.token as string;
  const conv = await postJson(
    `${base}/api/v1/widget/conversations`,
    {},
    { authorization: `Bearer ${token}` },
  );
  return { token, conversationId: conv.json.id as string };
}

/** The built console and widget that the browser tests serve (make build / make test build them). */
export const CONSOLE_DIST = path.join(ROOT, 'web/console/dist');
export const WIDGET_DIST = path.join(ROOT, 'web/widget/dist');

/**
 * A server that serves the built console and the widget (the demo page included), its public URL
 * being its own address. Fails at once, saying what to run, when a build is missing.
 */
export async function startWebServer(
  databaseUrl: string,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  for (const built of [path.join(CONSOLE_DIST, 'index.html'), path.join(WIDGET_DIST, 'frame.html')]) {
    if (!existsSync(built))
      throw new Error(`${built} is missing: run "make build" (make test does it) first`);
  }
  return startServer(databaseUrl, (p) => ({
    PARLEY_CONSOLE_DIR: CONSOLE_DIST,
    PARLEY_WIDGET_DIR: WIDGET_DIST,
    PARLEY_PUBLIC_URL: `http://127.0.0.1:${p}`,
    ...env,
  }));
}

/**
 * Staff accounts ready to sign in to the console: created through the admin API (audited like any),
 * put in the given teams, then marked as having chosen their password (the first sign-in's forced
 * change is the first-run test's business). Returns each user's id.
 */
export async function createStaff(
  api: ReturnType<typeof consoleApi>,
  databaseUrl: string,
  people: { username: string; displayName: string; password: string; role: string; teamIds?: string[] }[],
): Promise<string[]> {
  const ids: string[] = [];
  for (const { teamIds = [], ...who } of people) {
    const { user } = await api<{ user: { id: string } }>('POST', '/api/v1/users', who);
    for (const teamId of teamIds) await api('PUT', `/api/v1/teams/${teamId}/members/${user.id}`);
    ids.push(user.id);
  }
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query('update users set must_change_password = false where id = any($1)', [ids]);
  } finally {
    await db.end();
  }
  return ids;
}

/**
 * Signs a console page in through the login form and waits for the page it lands on: `to`, or
 * without it wherever the console sends a user after sign-in (the inbox).
 */
export async function signInConsole(
  page: Page,
  base: string,
  who: { username: string; password: string },
  to?: string,
): Promise<void> {
  await page.goto(to === undefined ? `${base}/login` : `${base}/login?redirect=${encodeURIComponent(to)}`);
  await page.fill('input[name="username"]', who.username);
  await page.fill('input[name="password"]', who.password);
  await page.click('[data-test="login-submit"]');
  await page.waitForURL(`${base}${to ?? '/inbox'}`);
}
