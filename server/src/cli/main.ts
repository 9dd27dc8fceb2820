// The `parley` command. Each subcommand is a small function; `serve` lives in ../main.ts.
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, renderEnvExample, type Config } from '../config/config.ts';
import { describeDbError } from '../platform/db/database.ts';
import { FatalStartupError } from '../platform/errors.ts';
import { PARLEY_VERSION } from '../platform/version.ts';
import { adminCreate } from './admin.ts';
import { BackupUsageError, backupCommand } from './backup.ts';
import { doctor } from './doctor.ts';
import { migrateCommand } from './migrate.ts';

const USAGE = `Usage: parley <command> [options]

Commands:
  serve                         Start the server (HTTP API, WebSocket, console)
  migrate [--wait-for-database SEC]
                                Apply pending database migrations (waits for the database up
                                to PARLEY_MIGRATE_WAIT_SECONDS, default 300, saying why)
  migrate --status              List applied and pending migrations
  migrate --check [--wait SEC]  Exit 0 if the schema is current (optionally wait for it), else 3
  doctor [--json]               Check configuration, database, migrations, disk and tools
  admin create --username NAME [--display-name TEXT] [--password-stdin]
                                Create an admin account (prints a one-time password)
  backup create [--out DIR]     Write a backup archive (consistent snapshot, optionally encrypted)
  backup verify ARCHIVE|--latest [--key FILE] [--json]
                                Prove an archive by restoring it into a scratch database
  backup restore ARCHIVE [--target DATABASE_URL] [--force] [--key FILE]
                                Restore an archive (then migrate forward); refuses a non-empty
                                target without --force and archives from a newer Parley
  backup list [--dir DIR] [--json]
                                List archives with their verification results
  backup prune [--dir DIR] [--dry-run]
                                Apply BACKUP_KEEP_DAILY/WEEKLY (only verified archives are deleted)
  audit export [--format csv|jsonl] [--out FILE] [--from ISO] [--to ISO] [--actor ID|NAME]
               [--action A] [--target-type T] [--target-id ID]
                                Export the audit trail with a signed manifest (audited)
  audit verify FILE|--db [--public-key PEM] [--anchors DIR] [--since EXPORT] [--json]
                                Check the chain and signatures; names the first tampered record
  audit keygen [--out FILE]     Make an Ed25519 key pair for PARLEY_AUDIT_SIGNING_KEY
  audit checkpoint              Sign the head of the audit chain now
  audit archive                 Archive records past AUDIT_RETENTION_DAYS, verify, then prune
  kb import FILE [--dry-run] [--format xlsx|csv|jsonl] [--json]
                                Import FAQ entries (all-or-nothing; a per-row report on refusal)
  kb export [--format xlsx|csv|jsonl] [--out FILE]
                                Export the knowledge base (JSON Lines to stdout by default)
  keys generate [--id ID]       Make a new encryption key (and a lookup key)
  keys status                   Count encrypted values per key id
  keys rotate [--batch N]       Re-encrypt every value under the first (active) key; resumable
  retention report              What the conversation retention policy would erase now (dry run)
  kb eval QUERIES.jsonl --faq FAQ.jsonl [--folds 5] [--json] [--answer-threshold X]
          [--suggest-threshold Y]
                                Measure FAQ matching against labelled queries ({"query",
                                "expected": id|null}): top-1/top-3, answer precision and
                                coverage, out-of-scope safety, suggested thresholds, worst misses
  search reindex [--batch N]    Build the message search index over every message (progress;
                                resumes after an interruption; Parley keeps serving)
  search status [--json]        Search index size, lag and build state
  config example                Print parley.env.example (every setting, documented)
  version                       Print the Parley version

Configuration comes from environment variables and ./parley.env; see parley.env.example.
`;

export class UsageError extends Error {}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const config = (): Readonly<Config> => loadConfig();
  switch (command) {
    case 'serve': {
      const { serve } = await import('../main.ts');
      await serve({ config: config() });
      return -1; // keeps running; exit code is set on shutdown
    }
    case 'migrate': {
      const { values } = parseArgs({
        args: rest,
        options: {
          status: { type: 'boolean' },
          check: { type: 'boolean' },
          wait: { type: 'string' },
          'wait-for-database': { type: 'string' },
        },
      });
      const wait = values.wait === undefined ? 0 : Number(values.wait);
      if (!Number.isFinite(wait) || wait < 0) throw new UsageError('--wait takes a number of seconds');
      const waitDb = values['wait-for-database'];
      if (waitDb !== undefined && !(Number(waitDb) >= 0))
        throw new UsageError('--wait-for-database takes a number of seconds');
      return migrateCommand(config(), {
        status: values.status ?? false,
        check: values.check ?? false,
        waitSeconds: wait,
        ...(waitDb !== undefined ? { waitForDatabaseSeconds: Number(waitDb) } : {}),
      });
    }
    case 'doctor': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } });
      return doctor({ json: values.json ?? false });
    }
    case 'admin': {
      const [sub, ...args] = rest;
      if (sub !== 'create') throw new UsageError('parley admin create --username NAME');
      const { values } = parseArgs({
        args,
        options: {
          username: { type: 'string' },
          'display-name': { type: 'string' },
          'password-stdin': { type: 'boolean' },
        },
      });
      if (!values.username) throw new UsageError('--username is required');
      return adminCreate(config(), {
        username: values.username,
        displayName: values['display-name'],
        passwordFromStdin: values['password-stdin'] ?? false,
      });
    }
    case 'backup':
      return backupCommand(config(), rest);
    case 'audit': {
      const [sub, ...args] = rest;
      const audit = await import('./audit.ts');
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          format: { type: 'string' },
          out: { type: 'string' },
          from: { type: 'string' },
          to: { type: 'string' },
          actor: { type: 'string' },
          action: { type: 'string' },
          'target-type': { type: 'string' },
          'target-id': { type: 'string' },
          db: { type: 'boolean' },
          'public-key': { type: 'string' },
          anchors: { type: 'string' },
          since: { type: 'string' },
          json: { type: 'boolean' },
        },
      });
      switch (sub) {
        case 'export': {
          const format = values.format ?? 'jsonl';
          if (format !== 'csv' && format !== 'jsonl') throw new UsageError('--format is csv or jsonl');
          return audit.auditExport(config(), {
            format,
            out: values.out,
            filter: {
              from: values.from,
              to: values.to,
              actor: values.actor,
              action: values.action,
              targetType: values['target-type'],
              targetId: values['target-id'],
            },
          });
        }
        case 'verify': {
          const opts = { publicKey: values['public-key'], json: values.json ?? false };
          if (values.db)
            return audit.auditVerifyDb(config(), { ...opts, anchors: values.anchors, since: values.since });
          if (values.anchors || values.since) throw new UsageError('--anchors and --since go with --db');
          if (positionals.length !== 1) throw new UsageError('parley audit verify FILE|--db');
          return audit.auditVerifyFile(positionals[0]!, opts);
        }
        case 'keygen':
          return audit.auditKeygen({ out: values.out });
        case 'checkpoint':
          return audit.auditCheckpoint(config());
        case 'archive':
          return audit.auditArchive(config());
        default:
          throw new UsageError('parley audit export|verify|keygen|checkpoint|archive');
      }
    }
    case 'kb': {
      const [sub, ...args] = rest;
      if (sub === 'eval') return kbEvalCommand(args);
      const kb = await import('./knowledge.ts');
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        options: {
          format: { type: 'string' },
          out: { type: 'string' },
          'dry-run': { type: 'boolean' },
          json: { type: 'boolean' },
        },
      });
      const format = values.format;
      if (format !== undefined && format !== 'xlsx' && format !== 'csv' && format !== 'jsonl') {
        throw new UsageError('--format is xlsx, csv or jsonl');
      }
      switch (sub) {
        case 'import':
          if (positionals.length !== 1) throw new UsageError('parley kb import FILE [--dry-run]');
          return kb.kbImport(config(), positionals[0]!, {
            format,
            dryRun: values['dry-run'] ?? false,
            json: values.json ?? false,
          });
        case 'export':
          return kb.kbExport(config(), { format: format ?? 'jsonl', out: values.out });
        default:
          throw new UsageError('parley kb import|export|eval');
      }
    }
    case 'keys': {
      const [sub, ...args] = rest;
      const keys = await import('./keys.ts');
      const { values } = parseArgs({ args, options: { id: { type: 'string' }, batch: { type: 'string' } } });
      if (sub === 'generate') return keys.keysGenerate({ id: values.id });
      if (sub === 'status') return keys.keysStatus(config());
      if (sub === 'rotate') {
        const batchSize = values.batch === undefined ? 500 : Number(values.batch);
        if (!Number.isInteger(batchSize) || batchSize < 1)
          throw new UsageError('--batch takes a whole number');
        return keys.keysRotate(config(), { batchSize });
      }
      throw new UsageError('parley keys generate|status|rotate');
    }
    case 'retention': {
      if (rest[0] !== 'report') throw new UsageError('parley retention report');
      const { retentionReport } = await import('./retention.ts');
      return retentionReport(config());
    }
    case 'search': {
      const { values } = parseArgs({
        args: rest.slice(1),
        options: { batch: { type: 'string' }, json: { type: 'boolean' } },
      });
      const { searchReindex, searchStatus } = await import('./search.ts');
      if (rest[0] === 'status') return searchStatus(config(), { json: values.json ?? false });
      if (rest[0] !== 'reindex')
        throw new UsageError('parley search reindex [--batch N] | parley search status');
      const batch = values.batch === undefined ? 5000 : Number(values.batch);
      if (!Number.isInteger(batch) || batch < 1)
        throw new UsageError('--batch takes a positive whole number');
      return searchReindex(config(), { batch });
    }
    case 'config': {
      if (rest[0] !== 'example') throw new UsageError('parley config example');
      process.stdout.write(renderEnvExample());
      return 0;
    }
    case 'version':
    case '--version':
      console.log(PARLEY_VERSION);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

try {
  const code = await run(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(
      `parley: ${err.message}\nFix the variables above (environment or parley.env) and start again.`,
    );
    process.exitCode = 78; // EX_CONFIG
  } else if (err instanceof FatalStartupError) {
    console.error(`parley: ${err.message}`);
    process.exitCode = 1;
  } else if (
    err instanceof UsageError ||
    err instanceof BackupUsageError ||
    (err as Error).name === 'KbUsageError' ||
    (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
  ) {
    console.error(`parley: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (
    typeof (err as { code?: unknown }).code === 'string' &&
    /^([0-9A-Z]{5}|E[A-Z]+)$/.test((err as { code: string }).code)
  ) {
    // A database or network failure: say what it is, without a stack trace.
    console.error(`parley: database error: ${describeDbError(err)}`);
    process.exitCode = 1;
  } else {
    console.error('parley: unexpected error:', err);
    process.exitCode = 1;
  }
}
// A server process of PARLEY_WORKERS that failed keeps its channel to the primary open and would
// linger: leave now, so the primary sees the failure.
if (cluster.isWorker && process.exitCode) process.exit();

/** `parley kb eval`: FAQ matching measured against labelled queries (cli/kb.ts). */
async function kbEvalCommand(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      faq: { type: 'string' },
      folds: { type: 'string' },
      json: { type: 'boolean' },
      'answer-threshold': { type: 'string' },
      'suggest-threshold': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError('parley kb eval QUERIES.jsonl --faq FAQ.jsonl');
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${name} takes a number in 0..1`);
    return n;
  };
  const folds = values.folds === undefined ? undefined : Number(values.folds);
  if (folds !== undefined && !(Number.isInteger(folds) && folds >= 2 && folds <= 20))
    throw new UsageError('--folds takes a whole number from 2 to 20');
  const { kbEval } = await import('./kb.ts');
  return kbEval({
    queries: positionals[0]!,
    faq: values.faq,
    folds,
    json: values.json ?? false,
    thresholds: {
      answer: num(values['answer-threshold'], 'answer-threshold'),
      suggest: num(values['suggest-threshold'], 'suggest-threshold'),
    },
  });
}
