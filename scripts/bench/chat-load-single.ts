// The first, single-process version of the chat benchmark (written with the send fast path); kept so
// the figures recorded with it in docs/PERFORMANCE.md can be reproduced. The scenario benchmark
// with a multi-process load generator is scripts/bench/chat-load.ts.
// Chat load benchmark (a script, not a test). Starts a Parley server process on a fresh
// database on loopback, connects N visitor and M agent WebSocket clients speaking the real
// protocol, lets visitors send at a fixed total rate (open loop) while agents reply, then checks
// the database for every sent message (lost, duplicated) and prints throughput, ack and delivery
// latency, server RSS and CPU per message. In the same run it measures the raw limits of the
// machine: pgbench single-row INSERT tps at 16 clients, and a bare ws + pg "insert then forward"
// loop, and the same saturation load against Parley.
//
//   node scripts/bench/chat-load-single.ts [--visitors 1000] [--agents 20] [--rate 500] [--duration 15]
//        [--reply-ratio 0.2] [--saturation-clients 64] [--saturation-seconds 10] [--skip-raw]
//   BENCH_ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres (a server where it may create databases)
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import WebSocket, { WebSocketServer } from 'ws';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { values: opt } = parseArgs({
  options: {
    visitors: { type: 'string', default: '1000' },
    agents: { type: 'string', default: '20' },
    rate: { type: 'string', default: '500' },
    duration: { type: 'string', default: '15' },
    'reply-ratio': { type: 'string', default: '0.2' },
    'saturation-clients': { type: 'string', default: '64' },
    'saturation-seconds': { type: 'string', default: '10' },
    'skip-raw': { type: 'boolean', default: false },
    'bare-server': { type: 'string' },
  },
});
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function dbUrl(name: string) {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}
function pct(sorted: number[], p: number) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    p50: +pct(s, 50).toFixed(1),
    p95: +pct(s, 95).toFixed(1),
    p99: +pct(s, 99).toFixed(1),
  };
}
function procStats(pid: number) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return { cpuSeconds, rssKb };
}
async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The bare loop: the least a server can do (insert the row, then forward it).
if (opt['bare-server']) {
  const pool = new pg.Pool({ connectionString: opt['bare-server'], max: 20 });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  const receivers = new Set<WebSocket>();
  wss.on('connection', (ws, req) => {
    if (req.url === '/receive') {
      receivers.add(ws);
      ws.on('close', () => receivers.delete(ws));
      return;
    }
    ws.on('message', (data) => {
      const m = JSON.parse((data as Buffer).toString()) as { clientId: string; text: string };
      pool
        .query('insert into bench_bare (client_id, body) values ($1, $2) returning id', [m.clientId, m.text])
        .then((r) => {
          const out = JSON.stringify({ id: (r.rows[0] as { id: string }).id, clientId: m.clientId });
          ws.send(out);
          for (const rcv of receivers) rcv.send(out);
        })
        .catch((e: unknown) => console.error(e));
    });
  });
  wss.on('listening', () => {
    const a = wss.address();
    process.stdout.write(`PORT ${typeof a === 'object' && a ? a.port : String(a)}\n`);
  });
  await new Promise(() => undefined);
}

// ---------------------------------------------------------------------------------------------
const VISITORS = Number(opt.visitors);
const AGENTS = Number(opt.agents);
const RATE = Number(opt.rate);
const DURATION = Number(opt.duration);
const REPLY = Number(opt['reply-ratio']);
const SAT_CLIENTS = Number(opt['saturation-clients']);
const SAT_SECONDS = Number(opt['saturation-seconds']);

const dbName = `parley_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`create database "${dbName}"`);
const DB = dbUrl(dbName);
const children: ChildProcess[] = [];
const cleanup = async () => {
  for (const c of children) c.kill('SIGKILL');
  await sleep(300);
  await admin.query(`drop database if exists "${dbName}" with (force)`).catch(() => undefined);
  await admin.end();
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  const port = await freePort();
  const server = spawn(process.execPath, ['server/src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: DB,
      DATABASE_POOL_MAX: '20',
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: String(port),
      PARLEY_LOG_LEVEL: 'warn',
      PARLEY_ENV_FILE: '/nonexistent',
      PARLEY_INITIAL_ADMIN_PASSWORD: 'bench-admin-password-1',
      PARLEY_WS_MAX_CONNECTIONS_PER_IP: '1000000',
      PARLEY_WS_IP_FRAMES_PER_SECOND: '10000000',
      PARLEY_WS_FRAMES_PER_SECOND: '1000',
      PARLEY_WS_FRAMES_BURST: '1000',
      PUBLIC_RATE_LIMIT_PER_MINUTE: '100000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(server);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (
      (await fetch(`${base}/readyz`)
        .then((r) => r.status)
        .catch(() => 0)) === 200
    )
      break;
    if (i > 600) throw new Error('server did not become ready');
    await sleep(100);
  }
  await sleep(500);
  const db = new pg.Client({ connectionString: DB });
  await db.connect();

  // Agents: one team each, sessions created directly (no password hashing in the benchmark).
  const agentCookies: { userId: string; teamId: string; cookie: string }[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const team = await db.query<{ id: string }>(`insert into teams (name) values ($1) returning id`, [
      `bench-${i}`,
    ]);
    const user = await db.query<{ id: string }>(
      `insert into users (username, display_name, role, password_hash) values ($1, $2, 'agent', 'x') returning id`,
      [`bench-agent-${i}`, `Agent ${i}`],
    );
    await db.query(`insert into team_members (team_id, user_id) values ($1, $2)`, [
      team.rows[0]!.id,
      user.rows[0]!.id,
    ]);
    const token = randomBytes(32).toString('base64url');
    await db.query(
      `insert into sessions (token_hash, user_id, expires_at) values ($1, $2, now() + interval '1 day')`,
      [createHash('sha256').update(token).digest(), user.rows[0]!.id],
    );
    agentCookies.push({
      userId: user.rows[0]!.id,
      teamId: team.rows[0]!.id,
      cookie: `parley_session=${token}`,
    });
  }

  // Visitors: token + conversation over HTTP, routed round-robin to the agents' teams.
  type Visitor = { token: string; conversationId: string; ws?: WebSocket };
  const visitors: Visitor[] = [];
  const setupStart = Date.now();
  for (let i = 0; i < VISITORS; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, VISITORS - i) }, async () => {
        const s = (await (
          await fetch(`${base}/api/v1/widget/session`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          })
        ).json()) as { token: string };
        const c = (await (
          await fetch(`${base}/api/v1/widget/conversations`, {
            method: 'POST',
            headers: { authorization: `Bearer ${s.token}` },
          })
        ).json()) as { id: string };
        return { token: s.token, conversationId: c.id };
      }),
    );
    visitors.push(...batch);
  }
  if (AGENTS > 0) {
    await db.query(
      `update conversations c set team_id = t.team from unnest($1::uuid[], $2::uuid[]) as t(id, team)
       where c.id = t.id`,
      [visitors.map((v) => v.conversationId), visitors.map((_, i) => agentCookies[i % AGENTS]!.teamId)],
    );
  }
  console.error(
    `setup: ${VISITORS} visitors, ${AGENTS} agents in ${((Date.now() - setupStart) / 1000).toFixed(1)} s`,
  );

  const sendTimes = new Map<string, number>();
  const acked = new Map<string, { id: string; seq: number }>();
  const ackLatency: number[] = [];
  const deliveryToAgent: number[] = [];
  const deliveryToVisitor: number[] = [];
  const sentClientIds = new Set<string>();
  let failedHandshakes = 0;
  let errors = 0;
  const errorCodes: Record<string, number> = {};

  function openSocket(url: string, headers: Record<string, string>, hello: object): Promise<WebSocket> {
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { headers });
      ws.once('open', () => ws.send(JSON.stringify(hello)));
      ws.once('error', () => {
        failedHandshakes++;
        resolve(ws);
      });
      const onReady = (d: WebSocket.RawData) => {
        if ((d as Buffer).toString().includes('"type":"ready"')) {
          ws.off('message', onReady);
          resolve(ws);
        }
      };
      ws.on('message', onReady);
    });
  }

  function onAck(f: { clientId: string; messageId: string; seq: number }) {
    const t0 = sendTimes.get(f.clientId);
    if (t0 !== undefined && !acked.has(f.clientId)) ackLatency.push(performance.now() - t0);
    acked.set(f.clientId, { id: f.messageId, seq: f.seq });
  }

  // Agents.
  const agentSockets: WebSocket[] = [];
  for (const a of agentCookies) {
    const ws = await openSocket(`ws://127.0.0.1:${port}/api/v1/ws`, { cookie: a.cookie }, { type: 'hello' });
    ws.on('message', (d) => {
      const f = JSON.parse((d as Buffer).toString()) as {
        type: string;
        clientId: string;
        messageId: string;
        seq: number;
        message?: { senderType: string; clientId: string; conversationId: string };
      };
      if (f.type === 'ack') return onAck(f);
      if (f.type === 'error') {
        errors++;
        errorCodes[(f as unknown as { code: string }).code] =
          (errorCodes[(f as unknown as { code: string }).code] ?? 0) + 1;
      }
      if (f.type !== 'message' || f.message?.senderType !== 'visitor') return;
      const t0 = sendTimes.get(f.message.clientId);
      if (t0 !== undefined) deliveryToAgent.push(performance.now() - t0);
      if (measuring && Math.random() < REPLY) {
        const clientId = `a-${randomUUID()}`;
        sendTimes.set(clientId, performance.now());
        sentClientIds.add(clientId);
        ws.send(
          JSON.stringify({
            type: 'send',
            conversationId: f.message.conversationId,
            clientId,
            text: 'On it!',
          }),
        );
      }
    });
    agentSockets.push(ws);
  }

  // Visitors: idle-socket memory first.
  const before = procStats(server.pid!);
  const connectStart = performance.now();
  for (let i = 0; i < visitors.length; i += 200) {
    await Promise.all(
      visitors.slice(i, i + 200).map(async (v) => {
        v.ws = await openSocket(
          `ws://127.0.0.1:${port}/api/v1/widget/ws`,
          {},
          { type: 'hello', token: v.token },
        );
        v.ws.on('message', (d) => {
          const f = JSON.parse((d as Buffer).toString()) as {
            type: string;
            clientId: string;
            messageId: string;
            seq: number;
            message?: { senderType: string; clientId: string };
          };
          if (f.type === 'ack') return onAck(f);
          if (f.type === 'error') {
            errors++;
            errorCodes[(f as unknown as { code: string }).code] =
              (errorCodes[(f as unknown as { code: string }).code] ?? 0) + 1;
          }
          if (f.type === 'message' && f.message?.senderType === 'agent') {
            const t0 = sendTimes.get(f.message.clientId);
            if (t0 !== undefined) deliveryToVisitor.push(performance.now() - t0);
          }
        });
      }),
    );
  }
  const connectSeconds = (performance.now() - connectStart) / 1000;
  await sleep(2000);
  const idle = procStats(server.pid!);
  const perSocketKb = (idle.rssKb - before.rssKb) / Math.max(1, visitors.length);

  // Open-loop load.
  let measuring = true;
  const loadStart = procStats(server.pid!);
  const t0 = performance.now();
  const countBefore = Number(
    (await db.query<{ count: string }>('select count(*) from messages')).rows[0]!.count,
  );
  let owed = 0;
  const tick = setInterval(() => {
    owed += RATE / 100;
    while (owed >= 1) {
      owed--;
      const v = visitors[Math.floor(Math.random() * visitors.length)]!;
      if (v.ws?.readyState !== WebSocket.OPEN) continue;
      const clientId = `v-${randomUUID()}`;
      sendTimes.set(clientId, performance.now());
      sentClientIds.add(clientId);
      v.ws.send(
        JSON.stringify({
          type: 'send',
          conversationId: v.conversationId,
          clientId,
          text: 'Hello, I need help',
        }),
      );
    }
  }, 10);
  await sleep(DURATION * 1000);
  clearInterval(tick);
  measuring = false;
  const loadSeconds = (performance.now() - t0) / 1000;
  // Drain: wait for outstanding acks.
  for (let i = 0; i < 100 && acked.size < sentClientIds.size; i++) await sleep(100);
  const loadEnd = procStats(server.pid!);
  const countAfter = Number(
    (await db.query<{ count: string }>('select count(*) from messages')).rows[0]!.count,
  );

  // Check every sent message in the database.
  const rows = await db.query<{ client_id: string; id: string; seq: string; n: string }>(
    `select client_id, min(id::text) as id, min(seq) as seq, count(*) as n from messages
     where client_id is not null group by client_id`,
  );
  const stored = new Map(rows.rows.map((r) => [r.client_id, r]));
  let lost = 0;
  let duplicated = 0;
  let mismatched = 0;
  for (const [clientId, ack] of acked) {
    const row = stored.get(clientId);
    if (!row) lost++;
    else if (row.id !== ack.id || Number(row.seq) !== ack.seq) mismatched++;
  }
  for (const r of rows.rows) if (Number(r.n) > 1) duplicated++;
  const unacked = [...sentClientIds].filter((c) => !acked.has(c)).length;
  const persisted = countAfter - countBefore;

  // Reconnect storm: every visitor drops and resumes at once.
  const stormStart = performance.now();
  const failedBefore = failedHandshakes;
  await Promise.all(
    visitors.map(async (v) => {
      v.ws?.terminate();
      v.ws = await openSocket(
        `ws://127.0.0.1:${port}/api/v1/widget/ws`,
        {},
        { type: 'hello', token: v.token, resume: [{ conversationId: v.conversationId, lastSeq: 0 }] },
      );
    }),
  );
  const stormSeconds = (performance.now() - stormStart) / 1000;
  const stormFailed = failedHandshakes - failedBefore;

  // Saturation against Parley: closed loop, each client sends its next message on its ack.
  let satPersisted = 0;
  {
    const satVisitors = visitors.slice(0, Math.min(SAT_CLIENTS, visitors.length));
    let done = 0;
    const deadline = performance.now() + SAT_SECONDS * 1000;
    const c0 = Number((await db.query<{ count: string }>('select count(*) from messages')).rows[0]!.count);
    const s0 = performance.now();
    await Promise.all(
      satVisitors.map(
        (v) =>
          new Promise<void>((resolve) => {
            const fire = () => {
              if (performance.now() > deadline) return resolve();
              v.ws!.send(
                JSON.stringify({
                  type: 'send',
                  conversationId: v.conversationId,
                  clientId: `s-${randomUUID()}`,
                  text: 'saturate',
                }),
              );
            };
            v.ws!.on('message', (d) => {
              if ((d as Buffer).toString().includes('"type":"ack"')) {
                done++;
                fire();
              }
            });
            fire();
          }),
      ),
    );
    const secs = (performance.now() - s0) / 1000;
    const c1 = Number((await db.query<{ count: string }>('select count(*) from messages')).rows[0]!.count);
    satPersisted = (c1 - c0) / secs;
    void done;
  }

  // Raw limits of this machine, measured in the same run.
  let pgbenchTps = NaN;
  let bareLoop = NaN;
  if (!opt['skip-raw']) {
    await db.query(
      `create table bench_raw (id bigserial primary key, conversation_id uuid, body text, created_at timestamptz default now())`,
    );
    const script = path.join(tmpdir(), `bench-insert-${process.pid}.sql`);
    writeFileSync(
      script,
      `insert into bench_raw (conversation_id, body) values (gen_random_uuid(), 'hello world');\n`,
    );
    const out = execFileSync('pgbench', ['-n', '-c', '16', '-j', '2', '-T', '10', '-f', script, DB], {
      encoding: 'utf8',
    });
    pgbenchTps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);

    await db.query(
      `create table bench_bare (id bigserial primary key, client_id text unique, body text, created_at timestamptz default now())`,
    );
    const bare = spawn(
      process.execPath,
      [path.join(ROOT, 'scripts/bench/chat-load-single.ts'), '--bare-server', DB],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(bare);
    const barePort = await new Promise<number>((resolve) => {
      bare.stdout.on('data', (d: Buffer) => {
        const m = /PORT (\d+)/.exec(d.toString());
        if (m) resolve(Number(m[1]));
      });
    });
    const receiver = new WebSocket(`ws://127.0.0.1:${barePort}/receive`);
    await new Promise((r) => receiver.once('open', r));
    let forwarded = 0;
    receiver.on('message', () => forwarded++);
    const deadline = performance.now() + SAT_SECONDS * 1000;
    const s0 = performance.now();
    await Promise.all(
      Array.from(
        { length: SAT_CLIENTS },
        () =>
          new Promise<void>((resolve) => {
            const ws = new WebSocket(`ws://127.0.0.1:${barePort}/send`);
            const fire = () => {
              if (performance.now() > deadline) {
                ws.close();
                return resolve();
              }
              ws.send(JSON.stringify({ clientId: randomUUID(), text: 'saturate' }));
            };
            ws.on('message', fire);
            ws.once('open', fire);
          }),
      ),
    );
    bareLoop = forwarded / ((performance.now() - s0) / 1000);
    receiver.close();
  }

  const result = {
    when: new Date().toISOString(),
    load: {
      visitors: VISITORS,
      agents: AGENTS,
      offeredRatePerSecond: RATE,
      seconds: +loadSeconds.toFixed(1),
      replyRatio: REPLY,
    },
    persistedPerSecond: +(persisted / loadSeconds).toFixed(0),
    sent: sentClientIds.size,
    acked: acked.size,
    unackedAtEnd: unacked,
    lost,
    duplicated,
    ackMismatched: mismatched,
    errorFrames: errors,
    errorCodes,
    ackLatencyMs: summary(ackLatency),
    deliveryVisitorToAgentMs: summary(deliveryToAgent),
    deliveryAgentToVisitorMs: summary(deliveryToVisitor),
    server: {
      rssIdleBeforeVisitorsMb: +(before.rssKb / 1024).toFixed(1),
      rssWithIdleVisitorsMb: +(idle.rssKb / 1024).toFixed(1),
      rssPerIdleVisitorSocketKb: +perSocketKb.toFixed(1),
      rssAfterLoadMb: +(loadEnd.rssKb / 1024).toFixed(1),
      cpuMsPerMessage: +(
        ((loadEnd.cpuSeconds - loadStart.cpuSeconds) * 1000) /
        Math.max(1, persisted)
      ).toFixed(3),
    },
    connectVisitorsSeconds: +connectSeconds.toFixed(1),
    reconnectStorm: {
      sockets: visitors.length,
      seconds: +stormSeconds.toFixed(2),
      failedHandshakes: stormFailed,
    },
    saturation: {
      clients: SAT_CLIENTS,
      parleyPersistedPerSecond: +satPersisted.toFixed(0),
      pgbenchInsertTps16: +pgbenchTps.toFixed(0),
      bareInsertForwardPerSecond: +bareLoop.toFixed(0),
      parleyVsPgbench: +(satPersisted / pgbenchTps).toFixed(2),
      parleyVsBare: +(satPersisted / bareLoop).toFixed(2),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  for (const ws of agentSockets) ws.terminate();
  for (const v of visitors) v.ws?.terminate();
  await db.end();
} finally {
  await cleanup();
}
process.exit(0);
