// SQL of the backup module: the consistent snapshot, per-table fingerprints, and backup_runs.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type pg from 'pg';
import type { Executor } from '../../platform/db/database.ts';

export interface TableFingerprint {
  table: string;
  rows: number;
  /** SHA-256 over the row count and two 64-bit sums of per-row MD5s (see tableFingerprints). */
  fingerprint: string;
}

export const FINGERPRINT_METHOD = 'rowsum-md5-v1';

/**
 * Session settings that make `row::text` byte-identical for identical data, whatever the server
 * or role defaults are (time zone, date and interval styles, float and bytea output).
 */
const STABLE_TEXT_SETTINGS = [
  `set local timezone = 'UTC'`,
  `set local datestyle = 'ISO, YMD'`,
  `set local intervalstyle = 'postgres'`,
  `set local extra_float_digits = 1`,
  `set local bytea_output = 'hex'`,
];

/**
 * Opens a REPEATABLE READ, READ ONLY transaction on `client` and exports its snapshot, so
 * pg_dump (--snapshot) and the fingerprints below see exactly the same data while writes go on.
 */
export async function beginSnapshot(
  client: pg.ClientBase,
): Promise<{ snapshot: string; takenAt: Date; serverVersion: string; serverVersionNum: number }> {
  await client.query('begin isolation level repeatable read read only');
  for (const s of STABLE_TEXT_SETTINGS) await client.query(s);
  const { rows } = await client.query<{ snapshot: string; taken_at: Date; version: string; num: string }>(
    `select pg_export_snapshot() as snapshot, now() as taken_at,
            current_setting('server_version') as version, current_setting('server_version_num') as num`,
  );
  const row = rows[0]!;
  return {
    snapshot: row.snapshot,
    takenAt: row.taken_at,
    serverVersion: row.version,
    serverVersionNum: Number(row.num),
  };
}

export async function appliedMigrations(
  client: pg.ClientBase,
): Promise<{ version: number; name: string; checksum: string }[]> {
  const present = await client.query<{ ok: boolean }>(
    `select to_regclass('public.schema_migrations') is not null as ok`,
  );
  if (!present.rows[0]?.ok) return [];
  const { rows } = await client.query<{ version: number; name: string; checksum: string }>(
    'select version, name, checksum from public.schema_migrations order by version',
  );
  return rows;
}

/**
 * Row count and content fingerprint of every ordinary table in the public schema, computed in
 * SQL in the caller's transaction. The fingerprint sums the MD5 of each row's text form as two
 * 64-bit numbers: independent of row order (no sort, no giant string: constant memory on a
 * million-row table) and changed by any altered, missing or extra row. It detects damage and
 * mistakes, not deliberate forgery (the archive's SHA-256s and encryption cover that).
 * Call inside a transaction (settings are SET LOCAL).
 */
export async function tableFingerprints(client: pg.ClientBase): Promise<TableFingerprint[]> {
  for (const s of STABLE_TEXT_SETTINGS) await client.query(s);
  const { rows: tables } = await client.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind = 'r' order by c.relname`,
  );
  const out: TableFingerprint[] = [];
  for (const { name } of tables) {
    const quoted = `"${name.replace(/"/g, '""')}"`;
    const { rows } = await client.query<{ n: string; a: string; b: string }>(
      `select count(*)::text as n,
              coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text as a,
              coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text as b
         from (select md5(t::text) as h from public.${quoted} t) s`,
    );
    const r = rows[0]!;
    out.push({
      table: name,
      rows: Number(r.n),
      fingerprint: createHash('sha256').update(`${r.n}:${r.a}:${r.b}`).digest('hex'),
    });
  }
  return out;
}

/** Relations in the public schema: a target with any is "not empty". */
export async function countPublicRelations(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select count(*)::text as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')`,
  );
  return Number(rows[0]!.n);
}

/** Connections of running Parley servers (application_name 'parley') to this database. */
export async function countParleyConnections(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select count(*)::text as n from pg_stat_activity
      where datname = current_database() and application_name = 'parley' and pid <> pg_backend_pid()`,
  );
  return Number(rows[0]!.n);
}

export interface BackupRunInsert {
  kind: 'create' | 'verify';
  archive: string;
  archiveCreatedAt: Date | null;
  startedAt: Date;
  outcome: 'success' | 'failure';
  sizeBytes: number | null;
  durationMs: number;
  restoreMs: number | null;
  replica: string;
  detail: Record<string, unknown>;
}

export function createBackupRepository() {
  return {
    async insertRun(db: Executor, run: BackupRunInsert): Promise<void> {
      await db
        .insertInto('backup_runs')
        .values({
          kind: run.kind,
          archive: run.archive,
          archive_created_at: run.archiveCreatedAt,
          started_at: run.startedAt,
          outcome: run.outcome,
          size_bytes: run.sizeBytes,
          duration_ms: run.durationMs,
          restore_ms: run.restoreMs,
          replica: run.replica,
          detail: JSON.stringify(run.detail),
        })
        .execute();
    },

    async recentRuns(db: Executor, limit: number) {
      return db
        .selectFrom('backup_runs')
        .select([
          'kind',
          'archive',
          'archive_created_at',
          'started_at',
          'finished_at',
          'outcome',
          'size_bytes',
          'duration_ms',
          'restore_ms',
          'replica',
          'detail',
        ])
        .orderBy('finished_at', 'desc')
        .limit(limit)
        .execute();
    },

    /** The figures /metrics and the console show: last create, last verify, newest verified. */
    async status(db: Executor) {
      const columns = [
        'archive',
        'archive_created_at',
        'finished_at',
        'outcome',
        'size_bytes',
        'duration_ms',
        'restore_ms',
      ] as const;
      const [lastCreate, lastGoodCreate, lastVerify, newestVerified] = await Promise.all([
        db
          .selectFrom('backup_runs')
          .select(columns)
          .where('kind', '=', 'create')
          .orderBy('finished_at', 'desc')
          .limit(1)
          .executeTakeFirst(),
        db
          .selectFrom('backup_runs')
          .select(columns)
          .where('kind', '=', 'create')
          .where('outcome', '=', 'success')
          .orderBy('finished_at', 'desc')
          .limit(1)
          .executeTakeFirst(),
        db
          .selectFrom('backup_runs')
          .select(columns)
          .where('kind', '=', 'verify')
          .orderBy('finished_at', 'desc')
          .limit(1)
          .executeTakeFirst(),
        db
          .selectFrom('backup_runs')
          .select(columns)
          .where('kind', '=', 'verify')
          .where('outcome', '=', 'success')
          .where('archive_created_at', 'is not', null)
          .orderBy('archive_created_at', 'desc')
          .limit(1)
          .executeTakeFirst(),
      ]);
      const now = await sql<{ now: Date }>`select now() as now`.execute(db);
      return { lastCreate, lastGoodCreate, lastVerify, newestVerified, now: now.rows[0]!.now };
    },
  };
}

export type BackupRepository = ReturnType<typeof createBackupRepository>;
