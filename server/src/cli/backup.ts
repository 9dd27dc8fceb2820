// `parley backup create|verify|restore|list|prune`. The logic is in modules/backup; this file
// parses options, shows progress on a terminal and prints the summaries.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { Config } from '../config/config.ts';
import { createContainer } from '../container.ts';
import type { AuditActor } from '../platform/audit.ts';
import { openDatabase } from '../platform/db/database.ts';
import { createLogger } from '../platform/logger.ts';
import { BackupError } from '../modules/backup/backup.errors.ts';
import { listArchives, pruneArchives, type Progress } from '../modules/backup/backup.service.ts';
import { withDatabase } from './database.ts';

const USAGE = `parley backup create [--out DIR]
parley backup verify ARCHIVE | --latest [--dir DIR] [--key FILE] [--json]
parley backup restore ARCHIVE [--target DATABASE_URL] [--force] [--key FILE]
parley backup list [--dir DIR] [--json]
parley backup prune [--dir DIR] [--dry-run]`;

export class BackupUsageError extends Error {}

function cliActor(): AuditActor {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return { id: null, name: `cli:${user}`, ip: null, userAgent: 'parley-cli' };
}

export const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** A progress line on stderr when it is a terminal; nothing otherwise (logs, cron mail). */
function progressLine(): { update: (p: Progress) => void; done: () => void } {
  if (!process.stderr.isTTY) return { update: () => undefined, done: () => undefined };
  const t0 = performance.now();
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = performance.now();
      if (now - last < 200) return;
      last = now;
      shown = true;
      const of = p.totalBytes ? ` of ${mib(p.totalBytes)}` : '';
      const label = { dump: 'dumping', restore: 'restoring', check: 'checking', compare: 'comparing tables' }[
        p.phase
      ];
      process.stderr.write(`\r\x1b[2K  ${label}: ${mib(p.bytes)}${of} · ${secs(now - t0)}`);
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

function readKey(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new BackupUsageError(`cannot read the key file ${file}: ${(err as NodeJS.ErrnoException).code}`);
  }
}

async function withService<T>(
  config: Readonly<Config>,
  fn: (backup: ReturnType<typeof createContainer>['backup']) => Promise<T>,
): Promise<T> {
  return withDatabase(config, async (handle, url) => {
    const container = createContainer({
      config,
      db: handle.db,
      logger: createLogger('warn'),
      databaseUrl: url,
    });
    return fn(container.backup);
  });
}

export async function backupCommand(config: Readonly<Config>, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const progress = progressLine();
  try {
    switch (sub) {
      case 'create': {
        const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
        const { path, record } = await withService(config, (b) =>
          b.create({ actor: cliActor(), dir: values.out, onProgress: progress.update }),
        );
        progress.done();
        console.log(
          `backup written: ${path} (${mib(record.bytes)}, ${secs(record.durationMs)}, ${record.tables} tables, ${record.rows.toLocaleString('en')} rows${record.encrypted ? `, encrypted to key ${record.keyId}` : ', NOT encrypted'})`,
        );
        return 0;
      }
      case 'verify': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: {
            latest: { type: 'boolean' },
            dir: { type: 'string' },
            key: { type: 'string' },
            json: { type: 'boolean' },
          },
        });
        const privateKey = readKey(values.key);
        const result = await withService(config, async (b) => {
          let archive = positionals[0];
          if (!archive && values.latest) {
            archive = (await b.list(values.dir))[0]?.path;
            if (!archive)
              throw new BackupError('not_found', `no archives in ${values.dir ?? config.backupDir}`);
          }
          if (!archive) throw new BackupUsageError('verify needs an ARCHIVE or --latest');
          return b.verify(archive, { actor: cliActor(), privateKey, onProgress: progress.update });
        });
        progress.done();
        if (values.json) {
          console.log(JSON.stringify(result, null, 2));
        } else {
          for (const t of result.tables) {
            const rows = t.ok
              ? `${t.actualRows} rows`
              : `expected ${t.expectedRows ?? '-'} rows, restored ${t.actualRows ?? '-'}`;
            console.log(`${t.ok ? 'PASS' : 'FAIL'}  ${t.table.padEnd(28)} ${rows}`);
          }
          if (result.auditChain)
            console.log(
              `${result.auditChain.ok ? 'PASS' : 'FAIL'}  ${'audit chain'.padEnd(28)} ${result.auditChain.records} records, every hash recomputed`,
            );
          console.log(
            `verification ${result.passed ? 'PASSED' : 'FAILED'}: ${result.path}\n  restore took ${secs(result.restoreMs)} (the measured recovery time); total ${secs(result.durationMs)}`,
          );
          for (const p of result.problems) console.log(`  - ${p}`);
        }
        return result.passed ? 0 : 1;
      }
      case 'restore': {
        const { values, positionals } = parseArgs({
          args: rest,
          allowPositionals: true,
          options: { target: { type: 'string' }, force: { type: 'boolean' }, key: { type: 'string' } },
        });
        const archive = positionals[0];
        if (!archive) throw new BackupUsageError('restore needs an ARCHIVE');
        const privateKey = readKey(values.key);
        const run = async (b: ReturnType<typeof createContainer>['backup']) =>
          b.restore(archive, {
            actor: cliActor(),
            targetUrl: values.target,
            force: values.force ?? false,
            privateKey,
            onProgress: progress.update,
          });
        let result;
        if (values.target) {
          // Only the target is involved: do not start or open Parley's own database.
          const handle = openDatabase(values.target, {
            max: 1,
            connectTimeoutMs: config.databaseConnectTimeoutMs,
            logger: createLogger('warn'),
            applicationName: 'parley-cli',
          });
          try {
            const container = createContainer({
              config,
              db: handle.db,
              logger: createLogger('warn'),
              databaseUrl: values.target,
            });
            result = await run(container.backup);
          } finally {
            await handle.close();
          }
        } else {
          result = await withService(config, run);
        }
        progress.done();
        const rows = result.tables.reduce((n, t) => n + (t.actualRows ?? 0), 0);
        console.log(
          `restored ${result.path} (taken ${result.header.createdAt} by Parley ${result.header.parleyVersion}): ${result.tables.length} tables, ${rows.toLocaleString('en')} rows, all matching the manifest; restore ${secs(result.restoreMs)}, total ${secs(result.durationMs)}${result.replacedExisting ? '; the previous content of the target was replaced' : ''}`,
        );
        if (result.auditChain && !result.auditChain.ok)
          console.log(
            `WARNING: the audit chain in this backup does not verify: ${result.auditChain.problems[0] ?? ''}`,
          );
        if (result.migrationsApplied.length)
          console.log(`migrated forward: ${result.migrationsApplied.join(', ')}`);
        return 0;
      }
      case 'list': {
        const { values } = parseArgs({
          args: rest,
          options: { dir: { type: 'string' }, json: { type: 'boolean' } },
        });
        const archives = await listArchives(values.dir ?? config.backupDir);
        if (values.json) {
          console.log(JSON.stringify(archives, null, 2));
          return 0;
        }
        if (archives.length === 0) console.log(`no archives in ${values.dir ?? config.backupDir}`);
        for (const a of archives) {
          const v = a.verification
            ? `${a.verification.result} ${a.verification.verifiedAt}${a.verification.restoreMs !== null ? ` (restore ${secs(a.verification.restoreMs)})` : ''}`
            : 'not verified';
          console.log(
            `${a.createdAt.toISOString()}  ${mib(a.bytes).padStart(10)}  ${a.encrypted ? 'encrypted' : 'plain    '}  ${v.padEnd(48)} ${a.name}`,
          );
        }
        return 0;
      }
      case 'prune': {
        const { values } = parseArgs({
          args: rest,
          options: { dir: { type: 'string' }, 'dry-run': { type: 'boolean' } },
        });
        const plan = await pruneArchives(values.dir ?? config.backupDir, config, {
          dryRun: values['dry-run'] ?? false,
        });
        for (const k of plan.keep) console.log(`keep    ${k.name}  (${k.reason})`);
        for (const p of plan.prune) console.log(`${values['dry-run'] ? 'would delete' : 'deleted'} ${p}`);
        return 0;
      }
      default:
        throw new BackupUsageError(`unknown backup command "${sub ?? ''}"\n\n${USAGE}`);
    }
  } catch (err) {
    progress.done();
    if (err instanceof BackupError) {
      console.error(`parley backup ${sub}: ${err.message} [${err.code}]`);
      return 1;
    }
    throw err;
  }
}

export const BACKUP_USAGE = USAGE;
