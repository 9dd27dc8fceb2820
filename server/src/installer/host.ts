// Checks of the machine and of the customer's PostgreSQL, shared by both install modes.
import { execFileSync } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Check } from '../cli/doctor.ts';
import { describeDbError, MIN_POSTGRES_VERSION_NUM } from '../platform/db/database.ts';
import { describeDatabaseUrl } from '../platform/logger.ts';

const GiB = 1024 ** 3;

/** Reachability, version (13+) and the privileges migrations need (CREATE on the database/schema). */
export async function postgresChecks(url: string, opts: { unreachable: 'fail' | 'warn' }): Promise<Check[]> {
  const where = describeDatabaseUrl(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 5000,
    application_name: 'parley-install',
  });
  try {
    await client.connect();
  } catch (err) {
    return [
      {
        name: 'postgresql',
        verdict: opts.unreachable,
        detail: `${where}: ${describeDbError(err)}`,
        hint:
          opts.unreachable === 'warn'
            ? 'checked from this machine only; make sure the cluster can reach it (NetworkPolicy: networkPolicy.egress.postgresql)'
            : 'check the URL, that PostgreSQL runs and that pg_hba.conf lets this host in',
      },
    ];
  }
  try {
    const checks: Check[] = [{ name: 'postgresql', verdict: 'pass', detail: `reachable: ${where}` }];
    const { rows } = await client.query<{
      num: string;
      version: string;
      db: boolean;
      schema: boolean;
      su: boolean;
    }>(
      `select current_setting('server_version_num') as num, current_setting('server_version') as version,
              has_database_privilege(current_database(), 'CREATE') as db,
              has_schema_privilege('public', 'CREATE') as schema,
              (select rolsuper from pg_roles where rolname = current_user) as su`,
    );
    const row = rows[0]!;
    checks.push(
      Number(row.num) >= MIN_POSTGRES_VERSION_NUM
        ? { name: 'postgresql version', verdict: 'pass', detail: `PostgreSQL ${row.version}` }
        : {
            name: 'postgresql version',
            verdict: 'fail',
            detail: `PostgreSQL ${row.version}; Parley needs 13 or newer`,
            hint: 'upgrade PostgreSQL (pg_upgrade) or point DATABASE_URL at a 13+ server',
          },
    );
    checks.push(
      row.schema
        ? {
            name: 'postgresql privileges',
            verdict: 'pass',
            detail: `may create tables in schema public${row.su ? ' (superuser: a dedicated owner role is better)' : ''}`,
          }
        : {
            name: 'postgresql privileges',
            verdict: 'fail',
            detail: 'the user may not CREATE in schema public (migrations need it)',
            hint: 'as the database owner: GRANT CREATE ON SCHEMA public TO <parley user>; or make the Parley user own the database',
          },
    );
    return checks;
  } finally {
    await client.end();
  }
}

export function diskCheck(dir: string, minGiB: number): Check {
  let probe = path.resolve(dir);
  while (!existsSync(probe)) probe = path.dirname(probe);
  const s = statfsSync(probe);
  const free = s.bavail * s.bsize;
  const detail = `${(free / GiB).toFixed(1)} GiB free at ${probe}`;
  return free >= minGiB * GiB
    ? { name: 'disk space', verdict: 'pass', detail }
    : {
        name: 'disk space',
        verdict: 'fail',
        detail,
        hint: `free space (need ${minGiB} GiB) or choose another --prefix`,
      };
}

export function cpuMemoryCheck(minCpus: number, minMemoryGiB: number): Check {
  const cpus = os.availableParallelism();
  const mem = os.totalmem();
  const detail = `${cpus} CPU, ${(mem / GiB).toFixed(1)} GiB memory`;
  return cpus >= minCpus && mem >= minMemoryGiB * GiB
    ? { name: 'cpu and memory', verdict: 'pass', detail }
    : {
        name: 'cpu and memory',
        verdict: 'fail',
        detail: `${detail}; Parley needs at least ${minCpus} CPU and ${minMemoryGiB} GiB`,
        hint: 'use a larger machine (docs/OPERATIONS.md "Sizing")',
      };
}

export async function portCheck(port: number): Promise<Check> {
  const free = await new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
  });
  return free
    ? { name: 'port', verdict: 'pass', detail: `${port} is free` }
    : {
        name: 'port',
        verdict: 'fail',
        detail: `${port} is already in use`,
        hint: 'stop what listens there (ss -ltnp) or choose --port',
      };
}

export function systemdCheck(): Check {
  try {
    execFileSync('systemctl', ['--version'], { stdio: 'ignore' });
    return existsSync('/run/systemd/system')
      ? { name: 'systemd', verdict: 'pass', detail: 'systemd is running' }
      : {
          name: 'systemd',
          verdict: 'fail',
          detail: 'systemctl exists but systemd is not PID 1 here',
          hint: 'use --no-systemd and run bin/parley serve under your own supervisor, or deploy/compose.yaml',
        };
  } catch {
    return {
      name: 'systemd',
      verdict: 'fail',
      detail: 'systemctl not found',
      hint: 'use --no-systemd and run bin/parley serve under your own supervisor, or deploy/compose.yaml',
    };
  }
}

/** Backups need pg_dump/pg_restore/psql; a missing tool is a warning (Parley runs without it). */
export function pgClientCheck(): Check {
  try {
    const out = execFileSync('pg_dump', ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return { name: 'postgresql client', verdict: 'pass', detail: out.trim() };
  } catch {
    return {
      name: 'postgresql client',
      verdict: 'warn',
      detail: 'pg_dump not found: scheduled backups will fail',
      hint: 'install the PostgreSQL client tools at least as new as the server (e.g. apt-get install postgresql-client-15)',
    };
  }
}
