// pg_dump, pg_restore and psql are external requirements (the PostgreSQL client tools, major
// version ≥ the server's). They get the connection through libpq environment variables so the
// password never appears on a command line (visible in `ps`).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { BackupError } from './backup.errors.ts';

const run = promisify(execFile);

export type PgTool = 'pg_dump' | 'pg_restore' | 'psql';

/** Connection string without the password, plus the environment that carries it. */
export function libpqConnection(url: string): { conninfo: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'parley-backup' };
  delete env.PGPASSWORD;
  if (password) env.PGPASSWORD = password;
  return { conninfo: u.toString(), env };
}

export async function pgToolVersion(tool: PgTool): Promise<{ major: number; text: string }> {
  try {
    const { stdout } = await run(tool, ['--version'], { timeout: 10_000 });
    const m = /(\d+)(?:\.(\d+))?/.exec(stdout);
    if (!m) throw new Error(`unexpected output: ${stdout}`);
    return { major: Number(m[1]), text: stdout.trim() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw toolMissing(tool);
    throw err;
  }
}

function toolMissing(tool: PgTool): BackupError {
  return new BackupError(
    'tool_missing',
    `${tool} was not found on PATH. Backups need the PostgreSQL client tools with a major version at least the server's, e.g. "apt-get install postgresql-client-15" (see \`parley doctor\`).`,
  );
}

export interface RunningTool {
  child: ChildProcess;
  /** Resolves when the process exits with 0; rejects with its stderr otherwise. */
  done: Promise<void>;
}

/** Starts a tool; stdin/stdout are pipes unless told otherwise, stderr is collected for errors. */
export function startTool(
  tool: PgTool,
  args: string[],
  opts: { env: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' | 'ignore' },
): RunningTool {
  const child = spawn(tool, args, {
    env: opts.env,
    stdio: [opts.stdin ?? 'pipe', opts.stdout ?? 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    if (stderr.length < 16_384) stderr += d;
  });
  // A child that dies while we write to it raises EPIPE on its stdin; the exit code reports it.
  child.stdin?.on('error', () => undefined);
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? toolMissing(tool) : err),
    );
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new BackupError(
            'tool_failed',
            `${tool} failed (${signal ? `killed by ${signal}` : `exit code ${code}`}): ${stderr.trim() || 'no message'}`,
          ),
        );
    });
  });
  done.catch(() => undefined);
  return { child, done };
}
