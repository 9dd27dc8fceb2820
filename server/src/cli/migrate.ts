import type { Config } from '../config/config.ts';
import { describeDbError } from '../platform/db/database.ts';
import {
  assertTrustworthy,
  migrate,
  migrationStatus,
  type MigrationStatus,
} from '../platform/db/migrator.ts';
import { withDatabaseUrl } from './database.ts';

function printStatus(status: MigrationStatus): void {
  const changed = new Set(status.changed.map((c) => c.applied.version));
  for (const a of status.applied) {
    const name = `${String(a.version).padStart(4, '0')}_${a.name}.sql`;
    const mark = changed.has(a.version) ? 'CHANGED' : 'applied';
    console.log(`  ${mark.padEnd(8)} ${name.padEnd(40)} ${a.appliedAt.toISOString()}`);
  }
  for (const p of status.pending) console.log(`  ${'pending'.padEnd(8)} ${p.file}`);
  for (const u of status.unknown) {
    console.log(
      `  ${'UNKNOWN'.padEnd(8)} ${String(u.version).padStart(4, '0')}_${u.name}.sql (from a newer Parley)`,
    );
  }
  console.log(
    `${status.applied.length} applied, ${status.pending.length} pending` +
      (status.changed.length ? `, ${status.changed.length} CHANGED after being applied` : ''),
  );
}

export async function migrateCommand(
  config: Readonly<Config>,
  opts: { status: boolean; check: boolean; waitSeconds: number },
): Promise<number> {
  return withDatabaseUrl(config, async (url) => {
    if (opts.status) {
      const status = await migrationStatus(url);
      printStatus(status);
      return status.changed.length || status.unknown.length ? 1 : 0;
    }
    if (opts.check) {
      // Used by the Helm chart's init container: wait until the migrator has done its work.
      const deadline = Date.now() + opts.waitSeconds * 1000;
      for (;;) {
        try {
          const status = await migrationStatus(url);
          assertTrustworthy(status);
          if (status.pending.length === 0) {
            console.log(`schema is current (${status.applied.length} migrations)`);
            return 0;
          }
          if (Date.now() >= deadline) {
            console.log(
              `schema is behind: ${status.pending.length} pending (${status.pending.map((p) => p.file).join(', ')})`,
            );
            return 3;
          }
        } catch (err) {
          if ((err as Error).name === 'FatalStartupError') throw err;
          if (Date.now() >= deadline) {
            console.error(`database not reachable: ${describeDbError(err)}`);
            return 3;
          }
        }
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    const result = await migrate(url, {
      onApplied: (file, ms) => console.log(`  applied ${file} (${ms} ms)`),
    });
    console.log(
      result.applied.length === 0
        ? `nothing to apply; schema is current (${result.status.applied.length} migrations)`
        : `applied ${result.applied.length} migration(s); schema is current`,
    );
    return 0;
  });
}
