// Forward-only plain-SQL migrations: migrations/NNNN_name.sql, each applied in its own
// transaction and recorded with its SHA-256. A session-level advisory lock makes concurrent
// migrators (two replicas starting at once) take turns; the second finds nothing to do.
//
// Expand/contract (docs/OPERATIONS.md, "Upgrades, rollbacks and migrations"): every file declares
// on a line of its own whether the previous release's code keeps working on the schema after it:
//   -- parley:compatible-with-previous
//   -- parley:incompatible-with-previous: <why>
// The declaration is recorded in schema_migrations, so an OLDER build, which does not have the
// file, can read it: it runs on a newer schema when every migration it does not know is marked
// compatible, and refuses with a message otherwise. A file without a declaration counts as
// incompatible (and a unit test fails). Declaration lines are not part of the checksum, so a
// declaration can be added to a file that databases have already applied.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { FatalStartupError } from '../errors.ts';

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../../../migrations');
/** Arbitrary constant shared by every Parley process: "the migration lock". */
const MIGRATION_LOCK_KEY = 727_001;
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const DECLARATION = /^-- parley:(compatible|incompatible)-with-previous(?::\s*(.*))?\r?\n/gm;

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
  /** The file's declaration; undefined when it has none (treated as incompatible). */
  compatibleWithPrevious: boolean | undefined;
  /** Why it is incompatible, as declared. */
  incompatibility?: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: Date;
  /** As recorded by the migrator that applied it; null for rows recorded before declarations. */
  compatibleWithPrevious: boolean | null;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: MigrationFile[];
  /** Applied files whose content changed since: start-up must refuse. */
  changed: { file: MigrationFile; applied: AppliedMigration }[];
  /** Applied in the database but unknown to this build: the database is newer than the code. */
  unknown: AppliedMigration[];
}

/** The SHA-256 of a migration's SQL, without its declaration lines. */
export function migrationChecksum(sqlText: string): string {
  return createHash('sha256').update(sqlText.replace(DECLARATION, '')).digest('hex');
}

export function parseDeclaration(sqlText: string): { compatible: boolean; reason?: string } | undefined {
  const found = [...sqlText.matchAll(DECLARATION)];
  if (found.length !== 1) return undefined;
  const [, kind, reason] = found[0]!;
  return { compatible: kind === 'compatible', ...(reason ? { reason: reason.trim() } : {}) };
}

export function readMigrationFiles(dir = MIGRATIONS_DIR): MigrationFile[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort();
  const seen = new Set<number>();
  return files.map((file) => {
    const m = FILE_PATTERN.exec(file);
    if (!m) throw new FatalStartupError(`migration file ${file} is misnamed: expected NNNN_name.sql`);
    const version = Number(m[1]);
    if (seen.has(version)) throw new FatalStartupError(`two migration files share the number ${m[1]}`);
    seen.add(version);
    const sqlText = readFileSync(path.join(dir, file), 'utf8');
    const declared = parseDeclaration(sqlText);
    return {
      version,
      name: m[2]!,
      file,
      sql: sqlText,
      checksum: migrationChecksum(sqlText),
      compatibleWithPrevious: declared?.compatible,
      ...(declared?.reason ? { incompatibility: declared.reason } : {}),
    };
  });
}

const CREATE_TABLE = `
  create table if not exists schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    duration_ms integer not null,
    compatible_with_previous boolean
  )`;
// Tables created by migrators from before declarations existed.
const ADD_COMPATIBILITY = `
  alter table schema_migrations add column if not exists compatible_with_previous boolean`;

async function readApplied(client: pg.ClientBase): Promise<AppliedMigration[]> {
  const exists = await client.query<{ present: boolean }>(
    `select to_regclass('schema_migrations') is not null as present`,
  );
  if (!exists.rows[0]?.present) return [];
  const { rows } = await client.query<AppliedRow>(APPLIED_QUERY);
  return rows.map(toApplied);
}

/** Reads the flag through to_jsonb so the query also works on tables without the column. */
export const APPLIED_QUERY = `
  select version, name, checksum, applied_at,
         (to_jsonb(m) ->> 'compatible_with_previous')::boolean as compatible_with_previous
    from schema_migrations m order by version`;

export interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
  compatible_with_previous: boolean | null;
}

export const toApplied = (r: AppliedRow): AppliedMigration => ({
  version: r.version,
  name: r.name,
  checksum: r.checksum,
  appliedAt: r.applied_at,
  compatibleWithPrevious: r.compatible_with_previous,
});

const migrationName = (m: { version: number; name: string }) =>
  `${String(m.version).padStart(4, '0')}_${m.name}`;

/**
 * What this build can do with the database's schema. `newer`: migrations this build does not
 * know, all declared compatible with the previous release, so this build runs on it.
 */
export type SchemaVerdict =
  { state: 'current' | 'behind' | 'newer'; detail: string } | { state: 'untrusted'; detail: string };

export function schemaVerdict(status: MigrationStatus): SchemaVerdict {
  const mine = status.applied.filter((a) => !status.unknown.includes(a)).at(-1)?.version ?? 0;
  const newest = status.applied.at(-1)?.version ?? 0;
  const expected = Math.max(mine, status.pending.at(-1)?.version ?? 0);
  const problem = untrustworthy(status);
  if (problem) return { state: 'untrusted', detail: problem };
  if (status.pending.length > 0)
    return {
      state: 'behind',
      detail: `schema at ${newest}, this build needs ${expected} (${status.pending.length} pending: ${status.pending.map((p) => p.file).join(', ')})`,
    };
  if (status.unknown.length > 0)
    return {
      state: 'newer',
      detail: `schema at ${newest}, newer than this build (${expected}); ${status.unknown.map(migrationName).join(', ')} ${status.unknown.length === 1 ? 'is' : 'are'} compatible with this release`,
    };
  return { state: 'current', detail: `current (${newest})` };
}

export function compareMigrations(files: MigrationFile[], applied: AppliedMigration[]): MigrationStatus {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  const appliedVersions = new Set(applied.map((a) => a.version));
  const changed: MigrationStatus['changed'] = [];
  const unknown: AppliedMigration[] = [];
  for (const a of applied) {
    const f = byVersion.get(a.version);
    if (!f) unknown.push(a);
    else if (f.checksum !== a.checksum) changed.push({ file: f, applied: a });
  }
  return { applied, pending: files.filter((f) => !appliedVersions.has(f.version)), changed, unknown };
}

/** What the operator must do when this build cannot trust or use the schema, else undefined. */
function untrustworthy(status: MigrationStatus): string | undefined {
  const first = status.changed[0];
  if (first) {
    return (
      `migration ${first.file.file} was changed after it was applied to this database ` +
      `(recorded checksum ${first.applied.checksum.slice(0, 12)}…, file now ${first.file.checksum.slice(0, 12)}…). ` +
      'Migrations are forward-only: restore the original file and put the change in a new migration.'
    );
  }
  const incompatible = status.unknown.filter((u) => u.compatibleWithPrevious !== true);
  if (incompatible.length > 0) {
    const names = incompatible.map(migrationName).join(', ');
    return (
      `the database was upgraded by a newer Parley: it has migration${incompatible.length > 1 ? 's' : ''} ${names} ` +
      `applied, which this build does not know and which ${incompatible.length > 1 ? 'are' : 'is'} not compatible with earlier releases ` +
      '(parley:incompatible-with-previous). This build cannot run on that schema: run the newer Parley ' +
      'version again, or restore the backup taken before the upgrade (docs/OPERATIONS.md, "Rollback").'
    );
  }
  return undefined;
}

/** Throws a FatalStartupError describing what the operator must do, if the schema cannot be trusted. */
export function assertTrustworthy(status: MigrationStatus): void {
  const problem = untrustworthy(status);
  if (problem) throw new FatalStartupError(problem);
}

export async function migrationStatus(url: string, dir = MIGRATIONS_DIR): Promise<MigrationStatus> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-migrate' });
  await client.connect();
  try {
    return compareMigrations(readMigrationFiles(dir), await readApplied(client));
  } finally {
    await client.end();
  }
}

export interface MigrateResult {
  applied: { file: string; durationMs: number }[];
  status: MigrationStatus;
}

/**
 * Apply pending migrations. Safe to call from many processes at once: they serialise on an
 * advisory lock and re-read the state once they hold it.
 */
export async function migrate(
  url: string,
  opts: { dir?: string; onApplied?: (file: string, durationMs: number) => void } = {},
): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-migrate' });
  await client.connect();
  // A network drop while holding the lock releases it with the session; nothing half-applied
  // survives because each file runs inside its own transaction.
  client.on('error', () => undefined);
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query(CREATE_TABLE);
      await client.query(ADD_COMPATIBILITY);
      const status = compareMigrations(readMigrationFiles(opts.dir), await readApplied(client));
      assertTrustworthy(status);
      const applied: MigrateResult['applied'] = [];
      for (const file of status.pending) {
        const started = performance.now();
        await client.query('begin');
        try {
          await client.query(file.sql);
          const durationMs = Math.round(performance.now() - started);
          await client.query(
            `insert into schema_migrations (version, name, checksum, duration_ms, compatible_with_previous)
             values ($1, $2, $3, $4, $5)`,
            [file.version, file.name, file.checksum, durationMs, file.compatibleWithPrevious === true],
          );
          await client.query('commit');
          applied.push({ file: file.file, durationMs });
          opts.onApplied?.(file.file, durationMs);
        } catch (err) {
          await client.query('rollback').catch(() => undefined);
          const e = err as Error & { position?: string };
          throw new FatalStartupError(`migration ${file.file} failed and was rolled back: ${e.message}`);
        }
      }
      const after = compareMigrations(readMigrationFiles(opts.dir), await readApplied(client));
      return { applied, status: after };
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connection failures a starting or restarting PostgreSQL gives; anything else is final. */
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '57P03', // the database system is starting up
  '57P01', // terminating connection due to administrator command (a restart)
  '3D000', // database does not exist (yet: an image's init scripts create it before listening)
]);

export function isTransientConnectError(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return TRANSIENT.has(e.code ?? '') || /timeout|Connection terminated/i.test(e.message ?? '');
}

/**
 * Waits until the database accepts a connection, retrying transient failures with backoff
 * (1 s doubling to 10 s) for up to `limitSeconds`, and reports each wait through `onWait`.
 * Throws the last error when the limit is reached or the failure is not transient.
 */
export async function waitForDatabase(
  url: string,
  opts: {
    limitSeconds: number;
    onWait: (w: { error: unknown; waitedMs: number; retryInMs: number; attempt: number }) => void;
    connectTimeoutMs?: number;
  },
): Promise<void> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({
      connectionString: url,
      application_name: 'parley-migrate',
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (err) {
      const waitedMs = Date.now() - started;
      const retryInMs = Math.min(10_000, 1000 * 2 ** Math.min(attempt - 1, 4));
      if (!isTransientConnectError(err) || waitedMs + retryInMs > opts.limitSeconds * 1000) throw err;
      opts.onWait({ error: err, waitedMs, retryInMs, attempt });
      await new Promise((r) => setTimeout(r, retryInMs));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
