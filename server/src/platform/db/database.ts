import { Kysely, PostgresDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { DB } from './schema.ts';
import { FatalStartupError } from '../errors.ts';

export type Database = Kysely<DB>;
export type Executor = Kysely<DB> | Transaction<DB>;
export type { DB };

// bigint (int8) columns come back as strings by default; our sequences fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export const MIN_POSTGRES_VERSION_NUM = 130000;

/**
 * Named prepared statements for the chat hot path. A statement text registered here is
 * parsed and planned once per pooled connection and then only bound and executed: for the
 * group-commit append and the batched resume read, parse + plan cost PostgreSQL more than
 * the work itself (a batched resume: ~0.5–1 ms of planning for ~10 µs per resumed socket).
 * Only fixed texts belong here (one entry per text, kept for the life of the process).
 */
const preparedNames = new Map<string, string>();
export function prepared(text: string): string {
  if (!preparedNames.has(text)) preparedNames.set(text, `parley_${preparedNames.size + 1}`);
  return text;
}

/** What Kysely's PostgresDialect needs of a client: query(text, values) and release(). */
interface DialectClient {
  query(text: string, values: readonly unknown[]): Promise<pg.QueryResult>;
  release(destroy?: boolean | Error): void;
}

/**
 * The pool as Kysely sees it: the same connections, with registered texts sent as named
 * statements. A statement whose cached plan PostgreSQL refuses after a schema change
 * ("cached plan must not change result type", during a rolling upgrade) is sent unnamed from
 * then on by that connection.
 */
function preparingPool(pool: pg.Pool) {
  const clients = new WeakMap<pg.PoolClient, DialectClient>();
  const wrap = (client: pg.PoolClient): DialectClient => {
    let wrapped = clients.get(client);
    if (wrapped) return wrapped;
    let usePrepared = true;
    wrapped = {
      async query(text, values) {
        const name = usePrepared ? preparedNames.get(text) : undefined;
        if (!name) return client.query(text, values as unknown[]);
        try {
          return await client.query({ name, text, values: values as unknown[] });
        } catch (err) {
          if ((err as { code?: string }).code !== '0A000') throw err;
          usePrepared = false;
          return client.query(text, values as unknown[]);
        }
      },
      release: (destroy) => client.release(destroy),
    };
    clients.set(client, wrapped);
    return wrapped;
  };
  return {
    connect: async () => wrap(await pool.connect()),
    end: () => pool.end(),
  };
}

export interface DatabaseHandle {
  db: Database;
  pool: pg.Pool;
  url: string;
  close(): Promise<void>;
  /** Parley is stopping: a connection lost from now on is expected (logged at debug, not warn). */
  stopping(): void;
}

export function openDatabase(
  url: string,
  opts: { max: number; connectTimeoutMs: number; logger: Logger; applicationName?: string },
): DatabaseHandle {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max,
    connectionTimeoutMillis: opts.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: opts.applicationName ?? 'parley',
    keepAlive: true,
  });
  // An idle client that loses its connection (database restart) emits 'error' on the pool;
  // without a listener that would crash the process. The pool discards the client itself.
  // While Parley stops, a lost connection is expected (Ctrl-C reaches an embedded PostgreSQL in
  // the same process group, which ends its sessions while our shutdown is still under way).
  let stopping = false;
  const onLost = (err: Error) => {
    (stopping ? opts.logger.debug.bind(opts.logger) : opts.logger.warn.bind(opts.logger))(
      { err: { message: err.message, code: (err as { code?: string }).code } },
      'database connection lost',
    );
  };
  pool.on('error', onLost);
  // A client checked out but between queries has no pool listener; without one of its own, a
  // cut connection would be an uncaught error. The pool drops dead clients on release.
  pool.on('connect', (client) => client.on('error', onLost));
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({ pool: preparingPool(pool) as unknown as pg.Pool }),
  });
  let closed = false;
  return {
    db,
    pool,
    url,
    stopping() {
      stopping = true;
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

export function assertSupportedVersion(versionNum: number, version: string): void {
  if (versionNum < MIN_POSTGRES_VERSION_NUM) {
    throw new FatalStartupError(
      `PostgreSQL ${version} is too old: Parley needs PostgreSQL 13 or newer. ` +
        'Upgrade the database server (or point DATABASE_URL at a newer one).',
    );
  }
}

/** Server version check: Parley needs PostgreSQL 13 or newer. */
export async function checkServerVersion(db: Database): Promise<{ versionNum: number; version: string }> {
  const { rows } = await sql<{ num: string; version: string }>`
    select current_setting('server_version_num') as num, current_setting('server_version') as version`.execute(
    db,
  );
  const row = rows[0];
  if (!row) throw new Error('could not read the PostgreSQL version');
  const versionNum = Number(row.num);
  assertSupportedVersion(versionNum, row.version);
  return { versionNum, version: row.version };
}

/** Short, operator-readable reason a database call failed (never includes credentials). */
export function describeDbError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is PostgreSQL running, and is the host/port in DATABASE_URL right?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name not found (check the host in DATABASE_URL)';
    case 'ETIMEDOUT':
      return 'connection timed out (firewall, or wrong host?)';
    case '28P01':
    case '28000':
      return 'authentication failed (check the user and password in DATABASE_URL)';
    case '3D000':
      return 'the database named in DATABASE_URL does not exist (create it first)';
    case '57P03':
      return 'the database is starting up';
    case '57P01':
      return 'the database was shut down (administrator command)';
    default:
      if (e.message?.includes('timeout')) return 'connection timed out';
      return e.message ?? String(err);
  }
}
