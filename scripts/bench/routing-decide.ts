// Routing rules' decide() (modules/routing/routing-rules.service.ts), alone: how long the rules
// take to answer "which team, priority, preferred agent" for one conversation, with N rules on the
// website, none of which matches before the last (the worst case: every condition of every rule
// is evaluated). decide() reads rules cached in memory; the run also measures, on the same
// database in the same run, one `select 1` round trip — what a per-conversation rule query would
// at least cost — and the time for a change on one replica to reach a second replica's decisions
// (LISTEN/NOTIFY). The limit it is compared with: the whole assignment's p99 budget of 50 ms
// (issue 15), of which decide must be a small share.
//
//   node scripts/bench/routing-decide.ts [--rules 500] [--calls 20000] [--runs 3]
//
// Needs BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) with the right to
// create databases. Prints p50 / p99 / max per run and the median of the runs.
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { sql } from 'kysely';
import { loadConfig } from '../../server/src/config/config.ts';
import { createContainer } from '../../server/src/container.ts';
import { openDatabase } from '../../server/src/platform/db/database.ts';
import { migrate } from '../../server/src/platform/db/migrator.ts';
import { createLogger } from '../../server/src/platform/logger.ts';
import type { RoutingInput } from '../../server/src/modules/routing/routing-target.ts';

const { values: opt } = parseArgs({
  options: {
    rules: { type: 'string', default: '500' },
    calls: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
  },
});
const RULES = Number(opt.rules);
const CALLS = Number(opt.calls);
const RUNS = Number(opt.runs);
const adminUrl = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = `parley_routing_${process.pid}`;
const dbUrl = Object.assign(new URL(adminUrl), { pathname: `/${dbName}` }).toString();

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`create database "${dbName}"`);
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(4)} ms`;

try {
  await migrate(dbUrl);
  const logger = createLogger('silent');
  const config = loadConfig({ DATABASE_URL: dbUrl, PARLEY_LOG_LEVEL: 'silent' });
  const handles = [
    openDatabase(dbUrl, { max: 4, connectTimeoutMs: 5000, logger }),
    openDatabase(dbUrl, { max: 4, connectTimeoutMs: 5000, logger }),
  ];
  const [a, b] = handles.map((h) => createContainer({ config, db: h.db, logger }));
  const db = handles[0]!.db;
  const channel = await db
    .insertInto('channels')
    .values({ type: 'web_widget', name: 'bench', identity_secret: 'x', settings: '{}' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const team = await db
    .insertInto('teams')
    .values({ name: 'bench', description: '' })
    .returning('id')
    .executeTakeFirstOrThrow();
  // Every kind of condition, none matching the probe until the last rule (a catch-all).
  const kinds = [
    [{ type: 'keywords', values: ['投诉', '退款', '发票', 'refund', 'complaint'] }],
    [{ type: 'pageUrl', op: 'glob', value: 'https://shop.example.com/*/checkout/*?' }],
    [{ type: 'language', values: ['en', 'ja', 'ko'] }],
    [{ type: 'tags', match: 'all', values: ['wholesale', 'verified', 'north'] }],
    [{ type: 'attribute', key: 'vip', value: true }],
    [
      { type: 'pageUrl', op: 'contains', value: '/pricing' },
      { type: 'keywords', values: ['价格', 'price'] },
    ],
  ];
  await db
    .insertInto('routing_rules')
    .values(
      Array.from({ length: RULES }, (_, i) => ({
        channel_id: channel.id,
        position: i + 1,
        name: `r${i}`,
        conditions: JSON.stringify(i === RULES - 1 ? [] : kinds[i % kinds.length]),
        team_id: team.id,
        priority: 'normal',
      })),
    )
    .execute();
  const probe: RoutingInput = {
    conversationId: randomUUID(),
    channelId: channel.id,
    sourcePageUrl: 'https://shop.example.com/zh/products/42?utm_source=mail',
    language: 'zh-CN',
    contact: { id: randomUUID(), tags: ['retail', 'verified'], attributes: { vip: false, city: '杭州' } },
    firstMessage: '你好，我想问一下这款龙井的发货时间，还有包装是礼盒吗？谢谢！',
  };
  const first = await a!.routingRules.decide(probe);
  if (first.ruleId === null) throw new Error('the catch-all did not hit');

  const p99s: number[] = [];
  const p50s: number[] = [];
  const rtts: number[] = [];
  const refreshes: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await a!.routingRules.decide(probe);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const roundTrips: number[] = [];
    for (let i = 0; i < 500; i++) {
      const t0 = performance.now();
      await sql`select 1`.execute(db);
      roundTrips.push(performance.now() - t0);
    }
    roundTrips.sort((x, y) => x - y);

    // A change on replica A reaches replica B's decisions: poll B until it answers with it.
    await a!.bridge!.start();
    await b!.bridge!.start();
    await b!.routingRules.decide(probe);
    const priority = run % 2 === 0 ? 'low' : 'high';
    const t0 = performance.now();
    await db.updateTable('routing_rules').set({ priority }).where('position', '=', RULES).execute();
    // What a committed change does on the replica that made it (routing-rules.service `changed`);
    // B learns of it only through the NOTIFY bridge.
    a!.bus.ephemeral({ kind: 'routing_rules' });
    for (;;) {
      if ((await b!.routingRules.decide(probe)).priority === priority) break;
      if (performance.now() - t0 > 5000) throw new Error('replica B never saw the change');
      await new Promise((r) => setImmediate(r));
    }
    const refresh = performance.now() - t0;
    await a!.bridge!.stop();
    await b!.bridge!.stop();

    p50s.push(pct(times, 0.5));
    p99s.push(pct(times, 0.99));
    rtts.push(pct(roundTrips, 0.5));
    refreshes.push(refresh);
    console.log(
      `run ${run}: decide with ${RULES} rules, ${CALLS} calls: p50 ${ms(pct(times, 0.5))}, p99 ${ms(pct(times, 0.99))}, max ${ms(times[times.length - 1]!)}; select 1 round trip p50 ${ms(pct(roundTrips, 0.5))}; change seen by the second replica after ${refresh.toFixed(1)} ms`,
    );
  }
  console.log(
    `machine: ${cpus().length} cores, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  console.log(
    `median of ${RUNS}: decide p50 ${ms(median(p50s))}, p99 ${ms(median(p99s))} (limit: the whole assignment's p99 of 50 ms, issue 15; one database round trip in the same run: ${ms(median(rtts))}); cross-replica refresh ${median(refreshes).toFixed(1)} ms (limit 1,000 ms)`,
  );
  for (const h of handles) await h.close();
} finally {
  await admin.query(`drop database if exists "${dbName}" with (force)`);
  await admin.end();
}
