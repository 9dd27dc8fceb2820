// The randomized multi-replica checker (see replica-checker.ts for what it checks):
//
//   node scripts/check/replicas.ts [--seed N] [--minutes 10] [--clients 120] [--rate 12]
//
// It creates a fresh database parley_check_<pid> on CHECK_ADMIN_URL (default
// postgres://postgres@127.0.0.1:5432/postgres), starts 3 `parley serve` processes on it, runs,
// prints the seed, the counts and every violation, drops the database (unless --keep-db) and
// exits 1 when anything was violated. `--seed` replays a run's schedule of actions and faults.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runReplicaCheck } from './replica-checker.ts';

const { values: opt } = parseArgs({
  options: {
    seed: { type: 'string' },
    minutes: { type: 'string', default: '10' },
    clients: { type: 'string', default: '120' },
    rate: { type: 'string', default: '12' },
    replicas: { type: 'string', default: '3' },
    'forget-seconds': { type: 'string', default: '4' },
    'keep-db': { type: 'boolean', default: false },
  },
});
const seed = opt.seed !== undefined ? Number(opt.seed) : randomInt(1, 2 ** 31);
const minutes = Number(opt.minutes);
const clients = Number(opt.clients);
if (!Number.isInteger(seed) || !(minutes > 0) || !(clients >= 4 && clients <= 1000)) {
  throw new Error('--seed: an integer; --minutes: > 0; --clients: 4..1000');
}
const adminUrl = process.env.CHECK_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `parley_check_${process.pid}`;
const databaseUrl = (() => {
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

console.log(`replica check: seed ${seed}, ${minutes} min, ${clients} clients, database ${dbName}`);
await admin(`create database "${dbName}"`);
const t0 = Date.now();
let failed: boolean;
try {
  const report = await runReplicaCheck({
    databaseUrl,
    seed,
    durationMs: minutes * 60_000,
    clients,
    sendsPerSecond: Number(opt.rate),
    replicas: Number(opt.replicas),
    forgetSeconds: Number(opt['forget-seconds']),
    log: (line) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}`),
  });
  console.log(`counts: ${JSON.stringify(report.counts)}`);
  for (const v of report.violations.slice(0, 50)) console.log(`VIOLATION ${v}`);
  failed = report.violations.length > 0;
  console.log(
    failed
      ? `FAILED: ${report.violations.length} violations (replay: --seed ${seed})`
      : `PASSED: seed ${seed}, no violation`,
  );
} finally {
  if (!opt['keep-db']) await admin(`drop database if exists "${dbName}" with (force)`).catch(() => undefined);
}
process.exit(failed ? 1 : 0);
