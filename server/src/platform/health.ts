// Readiness: the database answers and its schema is the one this build expects.
import { sql } from 'kysely';
import type { Database } from './db/database.ts';
import { describeDbError } from './db/database.ts';
import { readMigrationFiles } from './db/migrator.ts';

export interface ReadinessReport {
  ready: boolean;
  checks: {
    database: { ok: boolean; detail: string };
    migrations: { ok: boolean; detail: string };
  };
}

export function createHealth(deps: {
  db: Database;
  migrationsDir?: string;
  timeoutMs?: number;
  prepared?: boolean;
}) {
  const expected = readMigrationFiles(deps.migrationsDir);
  const latest = expected.at(-1)?.version ?? 0;
  const timeoutMs = deps.timeoutMs ?? 2000;
  // `serve` prepares the database (migrations, first admin) before it takes traffic.
  let prepared = deps.prepared ?? false;

  return {
    expectedMigration: latest,

    markPrepared(): void {
      prepared = true;
    },

    async readiness(): Promise<ReadinessReport> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
      });
      try {
        const row = await Promise.race([
          sql<{ applied: number | null; count: number }>`
            select max(version) as applied, count(*)::int as count from schema_migrations`
            .execute(deps.db)
            .then((r) => r.rows[0]),
          timeout,
        ]);
        const applied = row?.applied ?? 0;
        const current = applied === latest && (row?.count ?? 0) === expected.length;
        return {
          ready: current && prepared,
          checks: {
            database: { ok: true, detail: 'reachable' },
            migrations: {
              ok: current,
              detail: !current
                ? `schema at ${applied}, this build needs ${latest}`
                : prepared
                  ? `current (${latest})`
                  : `current (${latest}); start-up still preparing`,
            },
          },
        };
      } catch (err) {
        const code = (err as { code?: string }).code;
        const schemaMissing = code === '42P01';
        return {
          ready: false,
          checks: {
            database: schemaMissing
              ? { ok: true, detail: 'reachable' }
              : { ok: false, detail: describeDbError(err) },
            migrations: { ok: false, detail: schemaMissing ? 'not migrated yet' : 'unknown' },
          },
        };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export type Health = ReturnType<typeof createHealth>;
