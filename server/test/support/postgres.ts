// Finds the PostgreSQL server the tests (and the type generator) use: TEST_DATABASE_URL if set,
// else the local server at its default address if it answers, else an embedded one that this
// run starts under data/test-postgres and stops at the end.
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/platform/embedded-postgres.ts';

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestPostgres {
  /** URL of a maintenance database on the server, for CREATE/DROP DATABASE. */
  adminUrl: string;
  source: 'TEST_DATABASE_URL' | 'local default' | 'embedded';
  stop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function findTestPostgres(env: NodeJS.ProcessEnv = process.env): Promise<TestPostgres> {
  const explicit = env.TEST_DATABASE_URL;
  if (explicit) {
    if (!(await answers(explicit))) throw new Error(`TEST_DATABASE_URL does not answer: ${explicit}`);
    return { adminUrl: explicit, source: 'TEST_DATABASE_URL', stop: async () => undefined };
  }
  if (await answers(DEFAULT_TEST_DATABASE_URL)) {
    return { adminUrl: DEFAULT_TEST_DATABASE_URL, source: 'local default', stop: async () => undefined };
  }
  const embedded = await startEmbeddedPostgres({
    dataDir: path.resolve(import.meta.dirname, '../../../data/test-postgres'),
    database: 'postgres',
    log: (m) => console.error(`[test-postgres] ${m}`),
  });
  return { adminUrl: embedded.adminUrl, source: 'embedded', stop: () => embedded.stop() };
}

export function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function withAdminClient<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdminClient(adminUrl, (c) => c.query(`drop database if exists "${name}" with (force)`));
}
