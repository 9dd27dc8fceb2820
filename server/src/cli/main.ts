// The `parley` command. Each subcommand is a small function; `serve` lives in ../main.ts.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, renderEnvExample, type Config } from '../config/config.ts';
import { FatalStartupError } from '../platform/errors.ts';
import { PARLEY_VERSION } from '../platform/version.ts';
import { adminCreate } from './admin.ts';
import { BackupUsageError, backupCommand } from './backup.ts';
import { doctor } from './doctor.ts';
import { migrateCommand } from './migrate.ts';

const USAGE = `Usage: parley <command> [options]

Commands:
  serve                         Start the server (HTTP API, WebSocket, console)
  migrate                       Apply pending database migrations
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
        options: { status: { type: 'boolean' }, check: { type: 'boolean' }, wait: { type: 'string' } },
      });
      const wait = values.wait === undefined ? 0 : Number(values.wait);
      if (!Number.isFinite(wait) || wait < 0) throw new UsageError('--wait takes a number of seconds');
      return migrateCommand(config(), {
        status: values.status ?? false,
        check: values.check ?? false,
        waitSeconds: wait,
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
    (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
  ) {
    console.error(`parley: ${(err as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error('parley: unexpected error:', err);
    process.exitCode = 1;
  }
}
