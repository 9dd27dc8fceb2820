import type { Config } from '../config/config.ts';
import { describeDbError } from '../platform/db/database.ts';
import {
  assertTrustworthy,
  migrate,
  migrationStatus,
  schemaVerdict,
  waitForDatabase,
  type MigrationStatus,
} from '../platform/db/migrator.ts';
import { FatalStartupError } from '../platform/errors.ts';
import { withDatabaseUrl } from './database.ts';

function printStatus(status: MigrationStatus): void {
  const changed = new Set(status.changed.map((c) => c.applied.version));
  const unknown = new Set(status.unknown.map((u) => u.version));
  for (const a of status.applied) {
    const name = `${String(a.version).padStart(4, '0')}_${a.name}.sql`;
    const mark = changed.has(a.version)
      ? 'CHANGED'
      : unknown.has(a.version)
        ? a.compatibleWithPrevious
          ? 'newer'
          : 'NEWER'
        : 'applied';
    const note = unknown.has(a.version)
      ? a.compatibleWithPrevious
        ? ' (from a newer Parley; compatible with this build)'
        : ' (from a newer Parley; NOT compatible with this build)'
      : '';
    console.log(`  ${mark.padEnd(8)} ${name.padEnd(40)} ${a.appliedAt.toISOString()}${note}`);
  }
  for (const p of status.pending) console.log(`  ${'pending'.padEnd(8)} ${p.file}`);
  console.log(
    `${status.applied.length} applied, ${status.pending.length} pending` +
      (status.changed.length ? `, ${status.changed.length} CHANGED after being applied` : '') +
      (status.unknown.length ? `, ${status.unknown.length} from a newer Parley` : ''),
  );
}

/**
 * Waits for the database (a PostgreSQL that is still starting: the chart's bundled one, a
 * Compose service, a restart) and says why on stderr; false when it did not come in time.
 */
async function databaseReady(url: string, limitSeconds: number, connectTimeoutMs: number): Promise<boolean> {
  try {
    await waitForDatabase(url, {
      limitSeconds,
      connectTimeoutMs,
      onWait: ({ error, waitedMs, retryInMs }) =>
        console.error(
          `parley migrate: database not reachable yet: ${describeDbError(error)}; retrying in ` +
            `${Math.round(retryInMs / 1000)} s (waited ${Math.round(waitedMs / 1000)} s of ${limitSeconds} s, PARLEY_MIGRATE_WAIT_SECONDS)`,
        ),
    });
    return true;
  } catch (err) {
    console.error(
      `parley migrate: database not reachable${limitSeconds > 0 ? ` after waiting up to ${limitSeconds} s` : ''}: ${describeDbError(err)}`,
    );
    return false;
  }
}

export async function migrateCommand(
  config: Readonly<Config>,
  opts: { status: boolean; check: boolean; waitSeconds: number; waitForDatabaseSeconds?: number },
): Promise<number> {
  return withDatabaseUrl(config, async (url) => {
    if (opts.status) {
      if (!(await databaseReady(url, 0, config.databaseConnectTimeoutMs))) return 1;
      const status = await migrationStatus(url);
      printStatus(status);
      return schemaVerdict(status).state === 'untrusted' ? 1 : 0;
    }
    if (opts.check) {
      // Used by the Helm chart's init container: wait until the migrator has done its work.
      const deadline = Date.now() + opts.waitSeconds * 1000;
      for (;;) {
        try {
          const status = await migrationStatus(url);
          assertTrustworthy(status);
          const verdict = schemaVerdict(status);
          if (verdict.state !== 'behind') {
            console.log(
              verdict.state === 'newer'
                ? verdict.detail
                : `schema is current (${status.applied.length} migrations)`,
            );
            return 0;
          }
          if (Date.now() >= deadline) {
            console.log(
              `schema is behind: ${status.pending.length} pending (${status.pending.map((p) => p.file).join(', ')})`,
            );
            return 3;
          }
        } catch (err) {
          if (err instanceof FatalStartupError) throw err;
          if (Date.now() >= deadline) {
            console.error(`database not reachable: ${describeDbError(err)}`);
            return 3;
          }
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    const limit = opts.waitForDatabaseSeconds ?? config.migrateWaitSeconds;
    if (!(await databaseReady(url, limit, config.databaseConnectTimeoutMs))) return 1;
    const result = await migrate(url, {
      onApplied: (file, ms) => console.log(`  applied ${file} (${ms} ms)`),
    });
    const verdict = schemaVerdict(result.status);
    console.log(
      verdict.state === 'newer'
        ? `nothing to apply: ${verdict.detail}`
        : result.applied.length === 0
          ? `nothing to apply; schema is current (${result.status.applied.length} migrations)`
          : `applied ${result.applied.length} migration(s); schema is current`,
    );
    return 0;
  });
}
