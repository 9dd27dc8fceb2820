import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  assertTrustworthy,
  migrate,
  migrationStatus,
  migrationChecksum,
  readMigrationFiles,
  schemaVerdict,
} from '../../src/platform/db/migrator.ts';
import { openDatabase } from '../../src/platform/db/database.ts';
import { FatalStartupError } from '../../src/platform/errors.ts';
import { createHealth } from '../../src/platform/health.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createEmptyDatabase } from '../support/db.ts';

function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-migrations-'));
  for (const [name, sql] of Object.entries(files)) writeFileSync(path.join(dir, name), sql);
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

describe('migrations', () => {
  it("applies the project's migrations to an empty database, then has nothing to do", async () => {
    const db = await createEmptyDatabase();
    const first = await migrate(db.url);
    expect(first.applied.map((a) => a.file)).toEqual(readMigrationFiles().map((f) => f.file));
    const second = await migrate(db.url);
    expect(second.applied).toEqual([]);
    const status = await migrationStatus(db.url);
    expect(status.pending).toEqual([]);
    expect(status.applied).toHaveLength(readMigrationFiles().length);
  });

  it('two migrators at once apply each file exactly once', async () => {
    const db = await createEmptyDatabase();
    const dir = migrationsDir({
      '0001_a.sql': 'create table a (id int); select pg_sleep(0.3);',
      '0002_b.sql': 'create table b (id int);',
    });
    const results = await Promise.all([
      migrate(db.url, { dir }),
      migrate(db.url, { dir }),
      migrate(db.url, { dir }),
    ]);
    const appliedFiles = results.flatMap((r) => r.applied.map((a) => a.file)).sort();
    expect(appliedFiles).toEqual(['0001_a.sql', '0002_b.sql']);
    const rows = await query<{ version: number }>(
      db.url,
      'select version from schema_migrations order by version',
    );
    expect(rows.map((r) => r.version)).toEqual([1, 2]);
  });

  it('rolls back a failing migration completely and says which file failed', async () => {
    const db = await createEmptyDatabase();
    const dir = migrationsDir({
      '0001_ok.sql': 'create table ok (id int);',
      '0002_broken.sql': 'create table half (id int); insert into nowhere values (1);',
    });
    await expect(migrate(db.url, { dir })).rejects.toThrow(
      /migration 0002_broken.sql failed and was rolled back/,
    );
    const tables = await query<{ t: string | null }>(db.url, "select to_regclass('half')::text as t");
    expect(tables[0]?.t).toBeNull();
    const status = await migrationStatus(db.url, dir);
    expect(status.applied.map((a) => a.version)).toEqual([1]);
    expect(status.pending.map((p) => p.file)).toEqual(['0002_broken.sql']);
  });

  it('refuses to run when an applied file was changed afterwards', async () => {
    const db = await createEmptyDatabase();
    const dir = migrationsDir({ '0001_a.sql': 'create table a (id int);' });
    await migrate(db.url, { dir });
    writeFileSync(path.join(dir, '0001_a.sql'), 'create table a (id bigint);');
    await expect(migrate(db.url, { dir })).rejects.toThrow(
      /migration 0001_a.sql was changed after it was applied.*put the change in a new migration/s,
    );
    const status = await migrationStatus(db.url, dir);
    expect(() => assertTrustworthy(status)).toThrow(FatalStartupError);
  });

  it('refuses a database migrated by a newer Parley with a migration not marked compatible', async () => {
    const db = await createEmptyDatabase();
    const newer = migrationsDir({
      '0001_a.sql': 'select 1;',
      '0002_b.sql': '-- parley:incompatible-with-previous: drops a column\nselect 2;',
      '0003_c.sql': 'select 3;', // no declaration: counts as incompatible
    });
    await migrate(db.url, { dir: newer });
    const older = migrationsDir({ '0001_a.sql': 'select 1;' });
    await expect(migrate(db.url, { dir: older })).rejects.toThrow(
      /upgraded by a newer Parley: it has migrations 0002_b, 0003_c applied, which this build does not know and which are not compatible/,
    );
    const verdict = schemaVerdict(await migrationStatus(db.url, older));
    expect(verdict.state).toBe('untrusted');
  });

  it('runs on a newer schema when every newer migration is marked compatible (expand/contract)', async () => {
    const db = await createEmptyDatabase();
    const newer = migrationsDir({
      '0001_a.sql': 'create table a (id int);',
      '0002_b.sql': '-- parley:compatible-with-previous\nalter table a add column note text;',
    });
    await migrate(db.url, { dir: newer });
    const older = migrationsDir({ '0001_a.sql': 'create table a (id int);' });
    const result = await migrate(db.url, { dir: older });
    expect(result.applied).toEqual([]);
    const verdict = schemaVerdict(result.status);
    expect(verdict).toEqual({
      state: 'newer',
      detail: 'schema at 2, newer than this build (1); 0002_b is compatible with this release',
    });
    // /readyz of the older build says ready.
    const handle = openDatabase(db.url, { max: 1, connectTimeoutMs: 2000, logger: createLogger('silent') });
    try {
      const health = createHealth({ db: handle.db, migrationsDir: older, prepared: true });
      const report = await health.readiness();
      expect(report.ready).toBe(true);
      expect(report.checks.migrations.detail).toContain('newer than this build');
    } finally {
      await handle.close();
    }
  });

  it('reads the declaration, and leaves it out of the checksum', () => {
    const dir = migrationsDir({
      '0001_a.sql': 'create table a (id int);\n',
      '0002_b.sql': '-- parley:compatible-with-previous: a new table\ncreate table b (id int);\n',
      '0003_c.sql': '-- parley:incompatible-with-previous: drops a\ndrop table a;\n',
    });
    const [a, b, c] = readMigrationFiles(dir);
    expect([a?.compatibleWithPrevious, b?.compatibleWithPrevious, c?.compatibleWithPrevious]).toEqual([
      undefined,
      true,
      false,
    ]);
    expect(c?.incompatibility).toBe('drops a');
    // Adding a declaration to an applied file does not change its recorded checksum.
    expect(b?.checksum).toBe(migrationChecksum('create table b (id int);\n'));
  });

  it('rejects misnamed migration files', () => {
    const dir = migrationsDir({ '1_a.sql': 'select 1;' });
    expect(() => readMigrationFiles(dir)).toThrow(/misnamed: expected NNNN_name.sql/);
  });
});
