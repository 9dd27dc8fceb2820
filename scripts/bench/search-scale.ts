// Search at scale (issue 23). Not a test; run by hand (docs/PERFORMANCE.md, "Message search"):
//
//   nice node scripts/bench/search-scale.ts --conversations 1000000 --messages 10000000
//   node scripts/bench/search-scale.ts --conversations 10000 --messages 100000   (a quick run)
//
// 1. creates a fresh database parley_search_bench_<pid> (BENCH_ADMIN_URL) and migrates it;
// 2. loads conversations and messages of Chinese customer-service text by SQL (triggers off, as
//    for a database that existed before the search index): 1 % of conversations open, the rest
//    resolved; "退款" in 5 % of messages, order and phone numbers, one planted order number;
// 3. builds the index with the real `parley search reindex` (a child process): time,
//    messages/s, index size against the messages table;
// 4. starts `parley serve`, signs in as the admin and times each query kind through the HTTP
//    API (first page, and the next page when there is one): --reps repetitions per round,
//    --rounds rounds; prints p50/p95 per round and their medians against the 200 ms limit;
// 5. stops the server and drops the database (unless --keep-db).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freePort } from '../../server/src/platform/embedded-postgres.ts';
import { migrate } from '../../server/src/platform/db/migrator.ts';

const { values: opt } = parseArgs({
  options: {
    conversations: { type: 'string', default: '1000000' },
    messages: { type: 'string', default: '10000000' },
    reps: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '5000' },
    'keep-db': { type: 'boolean', default: false },
    /** Query an existing benchmark database (kept with --keep-db) instead of loading one. */
    db: { type: 'string' },
  },
});
const CONVS = Number(opt.conversations);
const MSGS = Number(opt.messages);
const PER = Math.max(1, Math.round(MSGS / CONVS));
const REPS = Number(opt.reps);
const ROUNDS = Number(opt.rounds);
const LIMIT_MS = 200;
const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = opt.db ?? `parley_search_bench_${process.pid}`;
const dbUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${DB_NAME}`;
  return u.toString();
})();
const ADMIN_PASSWORD = `bench-admin-${randomBytes(6).toString('hex')}`;
const PLANTED_ORDER = '8618300127654321';
const PLANTED_PHONE = '13912345678';
const tmp = mkdtempSync(path.join(tmpdir(), 'parley-search-bench-'));
const log = (...a: unknown[]) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = ADMIN_URL): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

// Phrases of customer-service chat. One of 20 holds 退款 (5 % of messages); {o} is an order
// number, {p} a phone number, {s} a parcel number.
const PHRASES = [
  '您好，请问有什么可以帮您？',
  '我的订单{o}还没有发货，能帮我查一下吗',
  '已经帮您催促仓库了，预计明天发出',
  '收到的商品有破损，我想申请退款',
  '请提供一下您的手机号码，方便我们联系您',
  '我的手机号是{p}，麻烦尽快处理',
  '快递一直显示在运输中，已经三天了',
  '顺丰 SF单号 签收 {s} 显示已签收但是我没收到',
  '好的，我这边给您登记一下，稍后回复您',
  '请问这个颜色还有货吗？尺码偏大还是偏小',
  '发票什么时候可以开出来？抬头是公司名称',
  '优惠券为什么用不了，提示不满足使用条件',
  '亲，这款商品支持七天无理由退换货',
  '我要修改收货地址，改成上海市浦东新区',
  '谢谢，问题已经解决了',
  '订单{o}的物流信息一直没有更新',
  '会员积分怎么兑换？可以抵扣现金吗',
  '客服你好，商品质量有问题，包装也坏了',
  '已为您备注加急处理，请耐心等待',
  '请问周末有人工客服在线吗',
];

async function load(db: pg.Client): Promise<void> {
  await db.query(`set session_replication_role = replica`); // no triggers: an existing database
  const channel = await db.query<{ id: string }>(
    `insert into channels (name, type, identity_secret) values ('Bench', 'web_widget', 'x') returning id`,
  );
  const teams = await db.query<{ id: string }>(
    `insert into teams (name) select 'bench-team-' || i from generate_series(1, 10) i returning id`,
  );
  const teamIds = teams.rows.map((r) => r.id);
  const chunk = Math.max(1, Math.min(CONVS, Math.floor(1_000_000 / PER)));
  const started = performance.now();
  for (let from = 1; from <= CONVS; from += chunk) {
    const to = Math.min(CONVS, from + chunk - 1);
    await db.query(
      `insert into contacts (id, name) select md5('c' || i)::uuid, '客户' || i from generate_series($1::int, $2::int) i`,
      [from, to],
    );
    // Conversation i was last active (CONVS - i) seconds ago; 1 % are open, the rest resolved.
    await db.query(
      `insert into conversations (id, channel_id, contact_id, team_id, status, last_seq, last_public_seq,
         last_activity_at, resolved_at, last_message_preview, created_at)
       select md5('v' || i)::uuid, $3::uuid, md5('c' || i)::uuid, ($4::uuid[])[1 + i % 10],
         case when i % 100 = 0 then 'open' else 'resolved' end, $5::int, $5::int,
         now() - (($6::int - i) * interval '1 second'),
         case when i % 100 = 0 then null else now() - (($6::int - i) * interval '1 second') end,
         '', now() - (($6::int - i) * interval '1 second') - interval '1 hour'
       from generate_series($1::int, $2::int) i`,
      [from, to, channel.rows[0]!.id, teamIds, PER, CONVS],
    );
    await db.query(
      `insert into messages (conversation_id, seq, sender_type, kind, body, created_at)
       select md5('v' || i)::uuid, s, case when s % 2 = 1 then 'visitor' else 'agent' end, 'text',
         replace(replace(replace(($3::text[])[1 + floor(random() * 20)::int],
           '{o}', lpad((floor(random() * 1e16))::bigint::text, 16, '0')),
           '{p}', '1' || lpad((floor(random() * 1e10))::bigint::text, 10, '0')),
           '{s}', 'SF' || lpad((floor(random() * 1e12))::bigint::text, 12, '0')),
         now() - (($4::int - i) * interval '1 second') - ($5::int - s) * interval '1 second'
       from generate_series($1::int, $2::int) i, generate_series(1, $5::int) s`,
      [from, to, PHRASES, CONVS, PER],
    );
    const rate = ((to * PER) / ((performance.now() - started) / 1000)).toFixed(0);
    log(`loaded ${to}/${CONVS} conversations, ${to * PER} messages (${rate} messages/s)`);
  }
  // The planted needles: one order number, one phone number, each in one message.
  await db.query(
    `update messages set body = '我的订单${PLANTED_ORDER}一直没到，电话${PLANTED_PHONE}'
     where conversation_id = md5('v' || $1::int)::uuid and seq = 1`,
    [Math.floor(CONVS / 3)],
  );
  await db.query(`set session_replication_role = origin`);
  // As after the migration on a database that already had messages: the build has not run.
  await db.query(`update search_state set complete = false, cursor = null, built = 0`);
  await db.query('analyze');
}

function spawnNode(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const serverEnv = (port: number) => ({
  DATABASE_URL: dbUrl,
  PARLEY_HOST: '127.0.0.1',
  PARLEY_PORT: String(port),
  PARLEY_LOG_LEVEL: 'warn',
  PARLEY_ENV_FILE: '/nonexistent',
  PARLEY_DATA_DIR: tmp,
  PARLEY_INITIAL_ADMIN_PASSWORD: ADMIN_PASSWORD,
  PARLEY_SHUTDOWN_TIMEOUT_SECONDS: '2',
  PUBLIC_RATE_LIMIT_PER_MINUTE: '100000',
});

async function reindex(): Promise<{ seconds: number; output: string }> {
  const started = performance.now();
  const child = spawnNode(
    ['server/src/cli/main.ts', 'search', 'reindex', '--batch', String(opt.batch)],
    serverEnv(0),
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    process.stdout.write(`  reindex: ${d.toString()}`);
  });
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`search reindex failed (${code}):\n${output}`);
  return { seconds: (performance.now() - started) / 1000, output };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Kind {
  name: string;
  query: string;
}
const KINDS: Kind[] = [
  { name: 'inbox list (open)', query: 'status=open' },
  { name: 'resolved list', query: 'status=resolved' },
  { name: 'common word 退款 (5 %)', query: `q=${encodeURIComponent('退款')}` },
  { name: '16-digit order number (1 msg)', query: `q=${PLANTED_ORDER}` },
  { name: 'phone fragment 2345678', query: `q=${PLANTED_PHONE.slice(4)}` },
  { name: 'three-word mixed 顺丰 SF单号 签收', query: `q=${encodeURIComponent('顺丰 SF单号 签收')}` },
  { name: 'absent two-char word 靐龘', query: `q=${encodeURIComponent('靐龘')}` },
  { name: 'absent word 齉龘靐', query: `q=${encodeURIComponent('齉龘靐')}` },
];

async function main(): Promise<void> {
  log(
    opt.db ? `database ${DB_NAME} (reused)` : `database ${DB_NAME}: ${CONVS} conversations × ${PER} messages`,
  );
  if (!opt.db) await admin((c) => c.query(`create database "${DB_NAME}"`));
  let server: ChildProcess | null = null;
  try {
    let loadSeconds = NaN;
    let built = { seconds: NaN };
    if (!opt.db) {
      await migrate(dbUrl);
      const loadStart = performance.now();
      await admin(load, dbUrl);
      loadSeconds = (performance.now() - loadStart) / 1000;
      log(`loaded in ${loadSeconds.toFixed(0)} s`);
      built = await reindex();
    }
    const sizes = await admin(
      (c) =>
        c.query<{ messages: string; entries: string; gin: string; n: string; convs: string }>(`
          select pg_total_relation_size('messages')::text as messages,
            pg_total_relation_size('search_entries')::text as entries,
            pg_relation_size('search_entries_tokens_idx')::text as gin,
            (select count(*) from messages)::text as n,
            (select count(*) from conversations)::text as convs`),
      dbUrl,
    );
    const s = sizes.rows[0]!;
    const MiB = (x: string) => (Number(x) / 1024 / 1024).toFixed(0);
    const throughput = Number(s.n) / built.seconds;

    const port = await freePort();
    server = spawnNode(['server/src/cli/main.ts', 'serve'], serverEnv(port));
    let out = '';
    server.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-10000)));
    server.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-10000)));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    while ((await fetch(`${base}/readyz`).catch(() => null))?.status !== 200) {
      if (server.exitCode !== null || Date.now() > deadline) throw new Error(`server not ready:\n${out}`);
      await sleep(200);
    }
    // A reused database keeps its admin: set the password of this run.
    if (opt.db) {
      const { hashPassword } = await import('../../server/src/modules/identity/passwords.ts');
      const hash = await hashPassword(ADMIN_PASSWORD);
      await admin(
        (c) => c.query(`update users set password_hash = $1 where username = 'admin'`, [hash]),
        dbUrl,
      );
    }
    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }),
    });
    if (login.status !== 200) throw new Error(`sign-in failed: ${login.status} ${await login.text()}`);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const get = async (q: string) => {
      const t0 = performance.now();
      const res = await fetch(`${base}/api/v1/conversations?limit=50&${q}`, { headers: { cookie } });
      const body = (await res.json()) as { conversations: unknown[]; nextCursor: string | null };
      if (res.status !== 200) throw new Error(`${q}: ${res.status} ${JSON.stringify(body)}`);
      return { ms: performance.now() - t0, rows: body.conversations.length, next: body.nextCursor };
    };

    const results = new Map<string, { rows: number; p50: number[]; p95: number[] }>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const k of KINDS) {
        const first = await get(k.query); // warm-up; its cursor is the next page's
        const pages: [string, string | null][] = [
          ['first page', k.query],
          ['next page', first.next ? `${k.query}&cursor=${encodeURIComponent(first.next)}` : null],
        ];
        for (const [page, q] of pages) {
          const key = `${k.name} | ${page}`;
          const r = results.get(key) ?? { rows: 0, p50: [], p95: [] };
          results.set(key, r);
          if (q === null) continue;
          const times: number[] = [];
          for (let i = 0; i < REPS; i++) {
            const g = await get(q);
            times.push(g.ms);
            r.rows = g.rows;
          }
          times.sort((a, b) => a - b);
          r.p50.push(pct(times, 50));
          r.p95.push(pct(times, 95));
          log(
            `round ${round} ${key}: ${r.rows} rows, p50 ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms`,
          );
        }
      }
    }

    console.log(
      `\n## Search at ${s.convs} conversations / ${Number(s.n)} messages (medians of ${ROUNDS} rounds × ${REPS})\n`,
    );
    console.log(`limit: p95 ≤ ${LIMIT_MS} ms, first page and next page\n`);
    console.log('| query | page | rows | p50 | p95 | ≤ 200 ms |');
    console.log('|---|---|---|---|---|---|');
    for (const [key, r] of results) {
      const [name, page] = key.split(' | ');
      if (r.p50.length === 0) {
        console.log(`| ${name} | ${page} | – | (no next page) | | |`);
        continue;
      }
      const p95 = median(r.p95);
      console.log(
        `| ${name} | ${page} | ${r.rows} | ${median(r.p50).toFixed(1)} ms | ${p95.toFixed(1)} ms | ${p95 <= LIMIT_MS ? 'yes' : '**no**'} |`,
      );
    }
    console.log(`\nload by SQL: ${loadSeconds.toFixed(0)} s`);
    console.log(
      `index build (parley search reindex --batch ${opt.batch}): ${built.seconds.toFixed(0)} s, ` +
        `${throughput.toFixed(0)} messages/s (target ≥ 20000)`,
    );
    console.log(
      `sizes: messages ${MiB(s.messages)} MiB (with indexes); search_entries ${MiB(s.entries)} MiB ` +
        `(GIN ${MiB(s.gin)} MiB) = ${((100 * Number(s.entries)) / Number(s.messages)).toFixed(0)} % of messages`,
    );
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.on('exit', r));
    }
    if (!opt['keep-db']) {
      await admin((c) => c.query(`drop database if exists "${DB_NAME}" with (force)`));
      log(`dropped ${DB_NAME}`);
    } else log(`kept ${DB_NAME}`);
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
