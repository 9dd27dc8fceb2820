// Readiness: the database answers and this build can run on its schema: the one it expects, or
// a newer one whose every newer migration is declared compatible with the previous release
// (expand/contract, platform/db/migrator.ts).
import { sql } from 'kysely';
import type { Database } from './db/database.ts';
import { describeDbError } from './db/database.ts';
import {
  APPLIED_QUERY,
  compareMigrations,
  readMigrationFiles,
  schemaVerdict,
  toApplied,
  type AppliedRow,
} from './db/migrator.ts';

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
        const rows = await Promise.race([
          sql
            .raw<AppliedRow>(APPLIED_QUERY)
            .execute(deps.db)
            .then((r) => r.rows),
          timeout,
        ]);
        const verdict = schemaVerdict(compareMigrations(expected, rows.map(toApplied)));
        const usable = verdict.state === 'current' || verdict.state === 'newer';
        return {
          ready: usable && prepared,
          checks: {
            database: { ok: true, detail: 'reachable' },
            migrations: {
              ok: usable,
              detail: usable && !prepared ? `${verdict.detail}; start-up still preparing` : verdict.detail,
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
