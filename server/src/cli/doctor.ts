// `parley doctor`: every check an operator needs before (or while) running Parley, each with a
// verdict and, when it fails, what to do. Exit code 1 when any check fails.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, statfsSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config/config.ts';
import { checkServerVersion, describeDbError } from '../platform/db/database.ts';
import { migrationStatus, schemaVerdict } from '../platform/db/migrator.ts';
import { checkKeyCanary } from '../platform/crypto/key-canary.ts';
import { createKeyRing } from '../platform/crypto/keyring.ts';
import type { Database } from '../platform/db/database.ts';
import { createLogger, describeDatabaseUrl } from '../platform/logger.ts';
import { withDatabase } from './database.ts';
import { createSearchRepository } from '../modules/search/search.repository.ts';
import { createSearchService, searchCheck } from '../modules/search/search.service.ts';
import { createContainer } from '../container.ts';

const run = promisify(execFile);

export type Verdict = 'pass' | 'warn' | 'fail';
export interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
  hint?: string;
}

const GiB = 1024 ** 3;

/** The key-ring canary, read only: do the configured keys open what the database holds? */
async function canaryCheck(db: Database, config: Readonly<Config>): Promise<Check> {
  const keyRing =
    config.encryptionKeys && config.lookupKey ? createKeyRing(config.encryptionKeys, config.lookupKey) : null;
  try {
    const result = await checkKeyCanary(db, keyRing, { write: false });
    const detail = {
      verified: 'the configured keys open the database key canary',
      absent: 'no key canary yet (written at the first start with keys)',
      'no-keys': 'no keys configured and no encrypted data recorded',
      written: 'written',
    }[result];
    return { name: 'key canary', verdict: 'pass', detail };
  } catch (err) {
    return { name: 'key canary', verdict: 'fail', detail: (err as Error).message };
  }
}

async function toolVersion(tool: string): Promise<{ major: number; text: string } | null> {
  try {
    const { stdout } = await run(tool, ['--version'], { timeout: 5000 });
    const m = /(\d+)(?:\.(\d+))?/.exec(stdout);
    return m ? { major: Number(m[1]), text: stdout.trim() } : null;
  } catch {
    return null;
  }
}

function diskCheck(dir: string): Check {
  let probe = path.resolve(dir);
  while (!existsSync(probe)) probe = path.dirname(probe);
  const s = statfsSync(probe);
  const free = s.bavail * s.bsize;
  const detail = `${(free / GiB).toFixed(1)} GiB free at ${probe}`;
  if (free < 0.5 * GiB) {
    return {
      name: 'disk space',
      verdict: 'fail',
      detail,
      hint: 'free space or set PARLEY_DATA_DIR to a larger volume (≥ 2 GiB)',
    };
  }
  if (free < 2 * GiB)
    return { name: 'disk space', verdict: 'warn', detail, hint: 'under 2 GiB free; backups need room' };
  return { name: 'disk space', verdict: 'pass', detail };
}

function dataDirCheck(dir: string): Check {
  try {
    let probe = path.resolve(dir);
    while (!existsSync(probe)) probe = path.dirname(probe);
    // Below a file nothing can be created, whatever the permissions say.
    if (!statSync(probe).isDirectory()) throw new Error('not a directory');
    accessSync(probe, constants.W_OK);
    return { name: 'data directory', verdict: 'pass', detail: `${dir} is writable` };
  } catch {
    return {
      name: 'data directory',
      verdict: 'fail',
      detail: `${dir} is not writable by this user`,
      hint: 'fix its ownership/permissions or set PARLEY_DATA_DIR',
    };
  }
}

function backupChecks(config: Readonly<Config>): Check[] {
  const checks: Check[] = [];
  const dir = dataDirCheck(config.backupDir);
  checks.push(
    dir.verdict === 'pass'
      ? { name: 'backup directory', verdict: 'pass', detail: `${config.backupDir} is writable` }
      : { ...dir, name: 'backup directory', hint: 'fix its permissions or set BACKUP_DIR' },
  );
  if (!config.backupEncryptPublicKey) {
    checks.push({
      name: 'backup encryption',
      verdict: 'warn',
      detail: 'backups are NOT encrypted',
      hint: 'set BACKUP_ENCRYPT_PUBLIC_KEY (see docs/OPERATIONS.md, "Backup and restore")',
    });
  } else {
    checks.push({
      name: 'backup encryption',
      verdict: 'pass',
      detail: 'archives are encrypted to BACKUP_ENCRYPT_PUBLIC_KEY',
    });
  }
  if (
    config.backupCron &&
    config.backupVerify &&
    config.backupEncryptPublicKey &&
    !config.backupDecryptPrivateKey
  ) {
    checks.push({
      name: 'backup verification',
      verdict: 'warn',
      detail:
        'scheduled backups are encrypted and this server has no private key: they are not verified here',
      hint: 'run `parley backup verify --latest` where BACKUP_DECRYPT_PRIVATE_KEY is set (e.g. a separate job)',
    });
  } else if (!config.backupCron) {
    checks.push({
      name: 'backup schedule',
      verdict: 'warn',
      detail: 'BACKUP_CRON=off: Parley does not schedule backups itself',
      hint: 'make sure an external job runs `parley backup create` and `parley backup verify`',
    });
  }
  return checks;
}

/** Issue 21: the age of the newest signed checkpoint and of the newest external anchor. */
async function auditAnchoringCheck(db: Database, config: Readonly<Config>): Promise<Check> {
  const container = createContainer({ config, db, logger: createLogger('warn') });
  const h = await container.audit.health();
  const age = (s: number) =>
    s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
  const detail = [
    h.checkpoint
      ? `newest checkpoint seq ${h.checkpoint.seq}, ${age(h.checkpoint.ageSeconds)} old`
      : 'no signed checkpoint',
    h.anchorConfigured
      ? h.anchor
        ? `newest external anchor seq ${h.anchor.seq}, ${age(h.anchor.ageSeconds)} old`
        : 'no external anchor yet'
      : null,
    ...h.reasons,
  ]
    .filter(Boolean)
    .join('; ');
  return h.state === 'ok'
    ? { name: 'audit anchoring', verdict: 'pass', detail }
    : {
        name: 'audit anchoring',
        verdict: h.state === 'alert' ? 'fail' : 'warn',
        detail,
        hint:
          h.state === 'alert'
            ? 'run `parley audit verify --db`; check that the audit-checkpoint job runs and AUDIT_ANCHOR_DIR is writable'
            : 'set PARLEY_AUDIT_MAC_KEYS and AUDIT_ANCHOR_DIR (docs/SECURITY.md, "Anchoring outside the database")',
      };
}

export async function runChecks(config: Readonly<Config>): Promise<Check[]> {
  const checks: Check[] = [];
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  checks.push(
    nodeMajor === 24
      ? { name: 'node runtime', verdict: 'pass', detail: `Node.js ${process.version}` }
      : {
          name: 'node runtime',
          verdict: 'warn',
          detail: `Node.js ${process.version}; Parley is built and tested on Node.js 24`,
          hint: 'run through `make run` or the bundle, which bring their own Node.js 24',
        },
  );
  checks.push(dataDirCheck(config.dataDir));
  checks.push(
    config.auditSigningKey
      ? { name: 'audit signing', verdict: 'pass', detail: 'checkpoints and exports are signed (Ed25519)' }
      : {
          name: 'audit signing',
          verdict: 'warn',
          detail: 'PARLEY_AUDIT_SIGNING_KEY is not set: no signed checkpoints; exports are not signed',
          hint: 'run `parley audit keygen --out audit-signing.pem` and set PARLEY_AUDIT_SIGNING_KEY to the private key',
        },
  );
  checks.push(
    config.encryptionKeys
      ? { name: 'encryption keys', verdict: 'pass', detail: 'key ring configured (PARLEY_ENCRYPTION_KEYS)' }
      : {
          name: 'encryption keys',
          verdict: 'warn',
          detail:
            'PARLEY_ENCRYPTION_KEYS is not set: 2FA cannot be enrolled and personal data is not encrypted',
          hint: 'run `parley keys generate` and set PARLEY_ENCRYPTION_KEYS and PARLEY_LOOKUP_KEY',
        },
  );
  checks.push(diskCheck(config.dataDir));

  let serverMajor = null as number | null;
  try {
    await withDatabase(config, async (handle, url) => {
      const where = config.databaseUrl ? describeDatabaseUrl(config.databaseUrl) : 'embedded PostgreSQL';
      // The pool connects lazily: the first query is the reachability check.
      await sql`select 1`.execute(handle.db);
      checks.push({ name: 'database', verdict: 'pass', detail: `reachable: ${where}` });
      try {
        const { version, versionNum } = await checkServerVersion(handle.db);
        serverMajor = Math.floor(versionNum / 10000);
        checks.push({ name: 'postgres version', verdict: 'pass', detail: `PostgreSQL ${version}` });
      } catch (err) {
        checks.push({
          name: 'postgres version',
          verdict: 'fail',
          detail: (err as Error).message,
          hint: 'Parley needs PostgreSQL 13 or newer',
        });
      }
      const status = await migrationStatus(url);
      const verdict = schemaVerdict(status);
      checks.push(
        verdict.state === 'untrusted'
          ? {
              name: 'migrations',
              verdict: 'fail',
              detail: verdict.detail,
              hint: status.changed.length
                ? 'restore the original migration files (migrations are forward-only)'
                : 'run the newer Parley version that migrated this database, or restore the backup taken before the upgrade',
            }
          : verdict.state === 'behind'
            ? {
                name: 'migrations',
                verdict: 'warn',
                detail: verdict.detail,
                hint: 'run `parley migrate` (serve applies them at start unless PARLEY_MIGRATE_ON_START=false)',
              }
            : verdict.state === 'newer'
              ? { name: 'migrations', verdict: 'warn', detail: verdict.detail }
              : { name: 'migrations', verdict: 'pass', detail: `current (${status.applied.length} applied)` },
      );
      if (verdict.state !== 'behind') checks.push(await canaryCheck(handle.db, config));
      if (verdict.state === 'current' || verdict.state === 'newer')
        checks.push(
          searchCheck(await createSearchService({ db: handle.db, repo: createSearchRepository() }).status()),
        );
      if (verdict.state === 'current') checks.push(await auditAnchoringCheck(handle.db, config));
    });
  } catch (err) {
    checks.push({
      name: 'database',
      verdict: 'fail',
      detail: `${config.databaseUrl ? describeDatabaseUrl(config.databaseUrl) : 'embedded PostgreSQL'}: ${describeDbError(err)}`,
      hint: config.databaseUrl
        ? 'check DATABASE_URL, that PostgreSQL runs and that this host may connect (pg_hba.conf)'
        : 'check PARLEY_DATA_DIR (see the message above)',
    });
  }

  // pg_dump writes backups; pg_restore and psql restore them (and verify them by a restore).
  for (const tool of ['pg_dump', 'pg_restore', 'psql']) {
    const v = await toolVersion(tool);
    if (!v) {
      checks.push({
        name: tool,
        verdict: 'fail',
        detail: `${tool} not found on PATH (needed for ${tool === 'pg_dump' ? 'backups' : 'verifying and restoring backups'})`,
        hint: `install the PostgreSQL client tools, e.g. "apt-get install postgresql-client-${serverMajor ?? 15}"`,
      });
    } else if (serverMajor !== null && v.major < serverMajor) {
      checks.push({
        name: tool,
        verdict: 'fail',
        detail: `${v.text} is older than the server (PostgreSQL ${serverMajor})`,
        hint: `install postgresql-client-${serverMajor} or newer and put it first on PATH`,
      });
    } else {
      checks.push({ name: tool, verdict: 'pass', detail: v.text });
    }
  }
  checks.push(...backupChecks(config));
  if (config.attachmentStorage === 'volume') {
    const dir = dataDirCheck(config.attachmentDir);
    checks.push(
      dir.verdict === 'pass'
        ? { name: 'attachment directory', verdict: 'pass', detail: `${config.attachmentDir} is writable` }
        : {
            ...dir,
            name: 'attachment directory',
            hint: 'ATTACHMENT_STORAGE=volume: fix the permissions of ATTACHMENT_DIR or mount the shared volume there',
          },
    );
  }
  return checks;
}

export async function doctor(opts: { json: boolean }): Promise<number> {
  let checks: Check[];
  try {
    const config = loadConfig();
    checks = [
      { name: 'configuration', verdict: 'pass', detail: 'all settings valid' },
      ...(await runChecks(config)),
    ];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    checks = err.problems.map((p) => ({
      name: 'configuration',
      verdict: 'fail' as const,
      detail: p,
      hint: 'fix the variable in the environment or parley.env (see parley.env.example)',
    }));
  }
  const failed = checks.some((c) => c.verdict === 'fail');
  if (opts.json) {
    console.log(JSON.stringify({ ok: !failed, checks }, null, 2));
  } else {
    const mark: Record<Verdict, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };
    for (const c of checks) {
      console.log(`${mark[c.verdict]}  ${c.name.padEnd(18)} ${c.detail}`);
      if (c.hint && c.verdict !== 'pass') console.log(`      ${''.padEnd(18)} fix: ${c.hint}`);
    }
    console.log(failed ? '\nSome checks failed.' : '\nAll checks passed.');
  }
  return failed ? 1 : 0;
}
