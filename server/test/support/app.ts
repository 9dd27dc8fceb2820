// Builds the real app (real container, real PostgreSQL) for in-process HTTP tests.
import { afterAll } from 'vitest';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { createContainer, type Container } from '../../src/container.ts';
import { sql } from 'kysely';
import { openDatabase, type Database } from '../../src/platform/db/database.ts';
import { createLogger } from '../../src/platform/logger.ts';
import type { Actor, Role } from '../../src/modules/identity/permissions.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export interface TestApp {
  app: App;
  container: Container;
  database: TestDatabase;
  config: Readonly<Config>;
}

/** The real app on a database of its own, or on `opts.database` (e.g. one a CLI process wrote). */
export async function createTestApp(
  env: Record<string, string> = {},
  opts: { database?: TestDatabase } = {},
): Promise<TestApp> {
  const database = opts.database ?? (await createTestDatabase());
  // Automatic assignment (routing) is off unless a test asks for it (PARLEY_ROUTING_ENABLED=true):
  // with it on, any connected online agent takes a team's waiting conversations, which tests of
  // other mechanics (access, transfers, presence) do not expect. Routing's own tests turn it on.
  const config = loadConfig({
    DATABASE_URL: database.url,
    PARLEY_LOG_LEVEL: 'silent',
    PARLEY_ROUTING_ENABLED: 'false',
    ...env,
  });
  const logger = createLogger(config.logLevel);
  const handle = openDatabase(database.url, { max: 5, connectTimeoutMs: 5000, logger });
  const container = createContainer({ config, db: handle.db, logger });
  const app = await buildApp(container, { logger });
  // What `serve` does once migrations and the first admin are done.
  container.health.markPrepared();
  await app.ready();
  afterAll(async () => {
    await app.close();
    await handle.close();
  });
  return { app, container, database, config };
}

/**
 * An in-process HTTP caller for tests: a session cookie (sent with the console's Origin, as the
 * CSRF check wants for writes) or a visitor's bearer token, and an optional JSON body.
 */
export function httpClient(t: TestApp) {
  return (method: string, url: string, opts: { cookie?: string; token?: string; body?: unknown } = {}) =>
    t.app.inject({
      method: method as 'GET',
      url,
      headers: {
        ...(opts.cookie ? { cookie: opts.cookie, origin: 'http://localhost:8080' } : {}),
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      },
      ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
    });
}

let counter = 0;

/** Creates a user with the given role directly through the service and signs in; returns its cookie. */
export async function signIn(
  t: TestApp,
  role: Role,
  opts: { username?: string; teamIds?: string[] } = {},
): Promise<{ cookie: string; userId: string; username: string; password: string }> {
  const username = opts.username ?? `${role}${++counter}-${process.pid}`;
  const password = `pw-${username}-0123456789`;
  const { user } = await t.container.identity.createAdminFromCli({ username, password });
  if (role !== 'admin') {
    await t.container.db.updateTable('users').set({ role }).where('id', '=', user.id).execute();
  }
  for (const teamId of opts.teamIds ?? []) {
    await t.container.db.insertInto('team_members').values({ team_id: teamId, user_id: user.id }).execute();
  }
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password },
  });
  if (res.statusCode !== 200) throw new Error(`sign-in failed: ${res.statusCode} ${res.body}`);
  const setCookie = res.headers['set-cookie'];
  const raw = Array.isArray(setCookie) ? setCookie[0]! : setCookie!;
  return { cookie: raw.split(';')[0]!, userId: user.id, username, password };
}

/** The service-level actor of a signed-in test user (for calling services directly). */
export function actorOf(user: { userId: string; username: string }, role: Role = 'admin'): Actor {
  return {
    userId: user.userId,
    username: user.username,
    displayName: user.username,
    role,
    teamIds: [],
    sessionId: 'test',
    ip: null,
    userAgent: null,
  };
}

/** "<table> holds <needle>" for every row of every table whose text contains a needle. */
export async function tablesHolding(db: Database, needles: readonly string[]): Promise<string[]> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_type = 'BASE TABLE'`.execute(db);
  const hits: string[] = [];
  for (const { table_name } of tables.rows) {
    const rows = await sql<{ row: string }>`select t::text as row from ${sql.table(table_name)} t`.execute(
      db,
    );
    for (const needle of needles) {
      if (rows.rows.some((r) => r.row.includes(needle))) hits.push(`${table_name} holds ${needle}`);
    }
  }
  return hits;
}
