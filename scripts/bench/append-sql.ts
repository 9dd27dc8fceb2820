// The database's side of the chat write path, alone: pgbench calling parley_append_message on
// Parley's schema, one append per transaction and N appends per transaction (what the group
// commit does), beside pgbench's plain single-row INSERT on the same server. No Parley process,
// no sockets: this isolates what the schema and the append function cost PostgreSQL.
//
//   node scripts/bench/append-sql.ts                 # the current schema
//   node scripts/bench/append-sql.ts --upto 17       # migrations 0001–0017 only (before 0018)
//
// Options: --conversations 10000 --clients 16 --seconds 10 --batch 10 --runs 2. Each run of each
// kind comes after a discarded 5-s warm-up on the same fresh database; the figure is appends/s
// (transactions/s × appends per transaction); every run starts after a CHECKPOINT. Needs pgbench and psql on PATH and BENCH_ADMIN_URL (default
// postgres://postgres@127.0.0.1:5432/postgres) with the right to create databases.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../../server/src/platform/db/migrator.ts';

const { values: opt } = parseArgs({
  options: {
    conversations: { type: 'string', default: '10000' },
    clients: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '10' },
    runs: { type: 'string', default: '2' },
    upto: { type: 'string' },
  },
});
const N = Number(opt.conversations);
const BATCH = Number(opt.batch);
const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `parley_append_${process.pid}`;
const dbUrl = Object.assign(new URL(adminUrl), { pathname: `/${dbName}` }).toString();
const work = mkdtempSync(path.join(tmpdir(), 'parley-append-'));
const ROOT = path.resolve(import.meta.dirname, '../..');

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`create database ${dbName}`);
try {
  // Migrations, all or up to --upto.
  let dir = path.join(ROOT, 'migrations');
  if (opt.upto) {
    const limit = Number(opt.upto);
    const only = path.join(work, 'migrations');
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.sql') && Number(f.slice(0, 4)) <= limit)) {
      cpSync(path.join(dir, f), path.join(only, f));
    }
    dir = only;
  }
  const { applied } = await migrate(dbUrl, { dir });
  console.log(`schema: ${applied.length} migrations (last ${applied.at(-1)?.file})`);

  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  await db.query(`insert into contacts (id) select gen_random_uuid() from generate_series(1, $1)`, [N]);
  await db.query(`insert into conversations (channel_id, contact_id)
    select (select id from channels order by created_at limit 1), id from contacts`);
  await db.query(`create table bench_ids (n int primary key, cid uuid not null)`);
  await db.query(`insert into bench_ids select row_number() over (), id from conversations`);
  await db.query(`create table bench_pgbench (id bigserial primary key, body text not null,
    created_at timestamptz not null default now())`);
  await db.query('vacuum analyze');
  await db.end();
  console.log(`seeded ${N} conversations`);

  const body = 'Hello, I would like to ask about my order number 12345, when will it ship?';
  const append = (where: string) =>
    `select r.* from bench_ids b, parley_append_message(b.cid, null, md5(random()::text), 'agent', null,
      '${body}', false, false, true, null) r where ${where} order by b.cid;\n`;
  const scripts = {
    insert: `insert into bench_pgbench (body) values ('${body}');\n`,
    append: `\\set n random(1, ${N})\n${append('b.n = :n')}`,
    [`append×${BATCH}`]: `\\set n random(1, ${N - BATCH + 1})\n${append(`b.n between :n and :n + ${BATCH - 1}`)}`,
  };
  const perTx: Record<string, number> = { insert: 1, append: 1, [`append×${BATCH}`]: BATCH };
  const pgbench = (file: string, seconds: number) => {
    // Every run starts right after a checkpoint: the first change of each page after one writes
    // the whole page to the WAL, so a checkpoint falling inside some runs and not others would
    // decide the comparison.
    execFileSync('psql', ['-q', '-c', 'checkpoint', dbUrl], { stdio: 'ignore' });
    const out = execFileSync(
      'pgbench',
      ['-n', '-c', opt.clients, '-j', '2', '-T', String(seconds), '-f', file, dbUrl],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1];
    if (!tps) throw new Error(`pgbench printed no tps:\n${out}`);
    return Number(tps);
  };
  for (const [kind, sql] of Object.entries(scripts)) {
    const file = path.join(work, `${kind}.sql`);
    writeFileSync(file, sql);
    pgbench(file, 5); // warm-up: fills caches, grows the indexes past their first splits
    const figures: number[] = [];
    for (let i = 0; i < Number(opt.runs); i++)
      figures.push(Math.round(pgbench(file, Number(opt.seconds)) * perTx[kind]!));
    console.log(`${kind.padEnd(12)} ${figures.map((f) => f.toLocaleString('en')).join(' / ')} rows/s`);
  }
} finally {
  await admin.query(`drop database if exists ${dbName} with (force)`);
  await admin.end();
  rmSync(work, { recursive: true, force: true });
}
