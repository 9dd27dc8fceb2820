// Forward-only plain-SQL migrations: migrations/NNNN_name.sql, each applied in its own
// transaction and recorded with its SHA-256. A session-level advisory lock makes concurrent
// migrators (two replicas starting at once) take turns; the second finds nothing to do.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { FatalStartupError } from '../errors.ts';

export const MIGRATIONS_DIR = path.resolve(import.meta.dirname, '../../../../migrations');
/** Arbitrary constant shared by every Parley process: "the migration lock". */
const MIGRATION_LOCK_KEY = 727_001;
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface MigrationFile {
  version: number;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

export interface AppliedMigration {
  version: number;
  name: string;
  checksum: string;
  appliedAt: Date;
}

export interface MigrationStatus {
  applied: AppliedMigration[];
  pending: MigrationFile[];
  /** Applied files whose content changed since: start-up must refuse. */
  changed: { file: MigrationFile; applied: AppliedMigration }[];
  /** Applied in the database but unknown to this build: the database is newer than the code. */
  unknown: AppliedMigration[];
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
    return {
      version,
      name: m[2]!,
      file,
      sql: sqlText,
      checksum: createHash('sha256').update(sqlText).digest('hex'),
    };
  });
}

const CREATE_TABLE = `
  create table if not exists schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now(),
    duration_ms integer not null
  )`;

async function readApplied(client: pg.ClientBase): Promise<AppliedMigration[]> {
  const exists = await client.query<{ present: boolean }>(
    `select to_regclass('schema_migrations') is not null as present`,
  );
  if (!exists.rows[0]?.present) return [];
  const { rows } = await client.query<{ version: number; name: string; checksum: string; applied_at: Date }>(
    'select version, name, checksum, applied_at from schema_migrations order by version',
  );
  return rows.map((r) => ({
    version: r.version,
    name: r.name,
    checksum: r.checksum,
    appliedAt: r.applied_at,
  }));
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

/** Throws a FatalStartupError describing what the operator must do, if the schema cannot be trusted. */
export function assertTrustworthy(status: MigrationStatus): void {
  const first = status.changed[0];
  if (first) {
    throw new FatalStartupError(
      `migration ${first.file.file} was changed after it was applied to this database ` +
        `(recorded checksum ${first.applied.checksum.slice(0, 12)}…, file now ${first.file.checksum.slice(0, 12)}…). ` +
        'Migrations are forward-only: restore the original file and put the change in a new migration.',
    );
  }
  const unknown = status.unknown[0];
  if (unknown) {
    throw new FatalStartupError(
      `the database has migration ${String(unknown.version).padStart(4, '0')}_${unknown.name} applied, which this ` +
        'Parley build does not know: the database was upgraded by a newer Parley. Run that version (or newer).',
    );
  }
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
            'insert into schema_migrations (version, name, checksum, duration_ms) values ($1, $2, $3, $4)',
            [file.version, file.name, file.checksum, durationMs],
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
