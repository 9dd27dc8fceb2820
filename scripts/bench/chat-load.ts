// Chat load benchmark (issue 3): N visitor and M agent WebSocket clients against a real Parley
// server on loopback, with the real protocol. Not a test; run by hand (docs/PERFORMANCE.md):
//
//   node scripts/bench/chat-load.ts --scenario load --visitors 200 --agents 20 --rate 100 --duration 20
//
// What one run does, bounded in time and count, killing everything it started at the end:
//   1. creates a fresh database parley_bench_<pid> (BENCH_ADMIN_URL, default
//      postgres://postgres@127.0.0.1:5432/postgres), starts `parley serve` on 127.0.0.1 with
//      the per-IP limits raised (every client comes from 127.0.0.1);
//   2. raw limits of the machine (unless --raw-seconds 0): pgbench single-row INSERT at 16
//      clients, and a bare ws + pg "insert then forward" server (chat-load-bare.ts);
//   3. setup through the real API: admin signs in, creates M agents each in a team of its own,
//      N visitor sessions and conversations (widget HTTP API); conversation i is then assigned to
//      agent i mod M (one UPDATE — setup only, not measured);
//   4. the scenario, with load-generator processes (chat-load-worker.ts) holding the sockets:
//      visitors send on a schedule (open loop; ack latency from the scheduled time), agents answer;
//   5. the database check: every sent client id is looked up (lost = acknowledged but absent,
//      duplicated = more than one row), per-conversation seqs must be gap-free;
//   6. prints a report (and --out FILE writes it as JSON).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { freePort } from '../../server/src/platform/embedded-postgres.ts';
import type { AgentSpec, PhaseStats, VisitorSpec, WorkerCommand, WorkerEvent } from './chat-load-worker.ts';

const { values: opt } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'load' },
    visitors: { type: 'string', default: '200' },
    agents: { type: 'string', default: '20' },
    /** Total messages per second: visitor messages plus agent replies. */
    rate: { type: 'string', default: '100' },
    'reply-ratio': { type: 'string', default: '1' },
    duration: { type: 'string', default: '20' },
    workers: { type: 'string', default: String(Math.max(1, Math.min(4, cpus().length))) },
    'raw-seconds': { type: 'string', default: '10' },
    'sat-start': { type: 'string', default: '200' },
    'sat-factor': { type: 'string', default: '1.3' },
    'sat-step': { type: 'string', default: '10' },
    'sat-max-steps': { type: 'string', default: '10' },
    'sat-p99-ms': { type: 'string', default: '250' },
    soak: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '5' },
    'storm-concurrency': { type: 'string', default: '256' },
    'server-env': { type: 'string', multiple: true, default: [] },
    /** NODE_OPTIONS for the server process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
    'server-node-options': { type: 'string' },
    'keep-db': { type: 'boolean', default: false },
    /** off: disable the message search triggers (no change log, nothing to index), to compare. */
    search: { type: 'string', default: 'on' },
    out: { type: 'string' },
    /** Run the whole benchmark this many times (one after another) and print the medians. */
    repeat: { type: 'string', default: '1' },
  },
});

const SCENARIO = opt.scenario;
if (!['load', 'saturation', 'memory', 'reconnect'].includes(SCENARIO))
  throw new Error('--scenario: load | saturation | memory | reconnect');
const N = Number(opt.visitors);
const M = Number(opt.agents);
const RATE = Number(opt.rate);
const REPLY = Number(opt['reply-ratio']);
const DURATION_S = Number(opt.duration);
const W = Math.max(1, Number(opt.workers));
const RAW_S = Number(opt['raw-seconds']);
const ROOT = path.resolve(import.meta.dirname, '../..');
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ADMIN_PASSWORD = `bench-admin-${randomBytes(6).toString('hex')}`;
const RUN_ID = randomBytes(3).toString('hex');
const DB_NAME = `parley_bench_${process.pid}`;
const dbUrl = (() => {
  const u = new URL(ADMIN_URL);
  u.pathname = `/${DB_NAME}`;
  return u.toString();
})();
if (!(N > 0 && M > 0 && RATE > 0 && DURATION_S > 0 && M <= N)) {
  throw new Error('--visitors, --agents, --rate, --duration must be positive, agents ≤ visitors');
}
/** Hard stop for the whole run, whatever happens. */
const RUN_LIMIT_MS = 30 * 60 * 1000;

const children = new Set<ChildProcess>();
const tmp = mkdtempSync(path.join(tmpdir(), 'parley-bench-'));
const log = (...a: unknown[]) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

async function sql<R extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query<R>(text, params);
  } finally {
    await c.end();
  }
}

// ---------- process metrics (/proc) ----------

const CLK_TCK = 100; // getconf CLK_TCK on Linux x86-64
/** The process and its descendants (a multi-process server: PARLEY_WORKERS > 1). */
function processTree(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    // gone, or no children file
  }
  return [pid, ...kids.flatMap(processTree)];
}
/** CPU (utime + stime, and stime alone) and RSS of the server: summed over its process tree. */
function procSample(pid: number) {
  let userMs = 0;
  let sysMs = 0;
  let rssKb = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      userMs += (Number(fields[11]) * 1000) / CLK_TCK; // utime
      sysMs += (Number(fields[12]) * 1000) / CLK_TCK; // stime (system calls: socket reads and writes)
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      rssKb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // exited between listing and reading
    }
  }
  return { cpuMs: userMs + sysMs, sysMs, rssKb, at: Date.now() };
}
/** Group-commit counters from the server's /metrics (summed over the processes that answer). */
/** The server's /metrics, as a reader of one sample's value (null when it does not answer). */
async function scrapeMetrics(server: Server): Promise<((name: string) => number) | null> {
  const res = await fetch(`${server.base}/metrics`).catch(() => null);
  if (!res || res.status !== 200) return null;
  const text = await res.text();
  return (name) => Number(new RegExp(`^${name} (\\d+(?:\\.\\d+)?)`, 'm').exec(text)?.[1] ?? NaN);
}

async function appendCounters(
  server: Server,
): Promise<{ statements: number; messages: number; resumeStatements: number; resumes: number } | null> {
  const value = await scrapeMetrics(server);
  if (!value) return null;
  return {
    statements: value('parley_chat_append_statements_total'),
    messages: value('parley_chat_append_messages_total'),
    resumeStatements: value('parley_chat_resume_statements_total'),
    resumes: value('parley_chat_resumes_total'),
  };
}

/**
 * CPU time (ms) of every PostgreSQL process on the machine, per pid: the database's share of a
 * phase is the sum of the differences (a backend that started during the phase counts from 0).
 */
function postgresSample(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (!stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).startsWith('postgres')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK);
    } catch {
      // exited between listing and reading
    }
  }
  return out;
}
/** The PostgreSQL processes that used the most CPU between two samples, with what they are. */
function busiestPostgres(a: Map<number, number>, b: Map<number, number>, n = 4): string[] {
  return [...b]
    .map(([pid, cpu]) => ({ pid, ms: cpu - (a.get(pid) ?? 0) }))
    .sort((x, y) => y.ms - x.ms)
    .slice(0, n)
    .map(({ pid, ms }) => {
      let what = '?';
      try {
        what = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim().slice(0, 60);
      } catch {
        // exited
      }
      return `${Math.round(ms)} ms ${what}`;
    });
}
function postgresCpuMsBetween(a: Map<number, number>, b: Map<number, number>): number {
  let ms = 0;
  for (const [pid, cpu] of b) ms += cpu - (a.get(pid) ?? 0);
  return ms;
}
/** The server's V8 heap in use (MB), from its Prometheus metrics: tells heap growth from native. */
async function heapUsedMb(server: Server): Promise<number | null> {
  const bytes = (await scrapeMetrics(server))?.('parley_nodejs_heap_size_used_bytes');
  return bytes === undefined || Number.isNaN(bytes) ? null : bytes / 1024 / 1024;
}

/** Whole-machine CPU: busy share since the previous call (to show how shared the machine was). */
function machineSample() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const idle = line[3]! + line[4]!;
  const total = line.reduce((a, b) => a + b, 0);
  return { idle, total };
}

// ---------- child processes ----------

function spawnNode(args: string[], env: Record<string, string>, ipc: boolean): ChildProcess {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function killAll() {
  for (const c of children) c.kill('SIGKILL');
}

/** SIGTERM (the server shuts down cleanly, e.g. writes a --cpu-prof profile), SIGKILL after 5 s. */
async function stopAll() {
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  const exited = running.map((c) => new Promise((r) => c.once('exit', r)));
  for (const c of running) c.kill('SIGTERM');
  await Promise.race([Promise.all(exited), sleep(5000)]);
  killAll();
}

interface Server {
  child: ChildProcess;
  pid: number;
  base: string;
  wsBase: string;
  output: () => string;
}

async function startServer(): Promise<Server> {
  const port = await freePort();
  const extra = Object.fromEntries(
    (opt['server-env'] ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  const child = spawnNode(
    ['server/src/cli/main.ts', 'serve'],
    {
      DATABASE_URL: dbUrl,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: String(port),
      PARLEY_LOG_LEVEL: 'warn',
      PARLEY_ENV_FILE: '/nonexistent',
      PARLEY_DATA_DIR: tmp,
      PARLEY_INITIAL_ADMIN_PASSWORD: ADMIN_PASSWORD,
      PARLEY_SHUTDOWN_TIMEOUT_SECONDS: '2',
      // Every benchmark client comes from 127.0.0.1: the per-IP limits would otherwise apply to all.
      PARLEY_WS_MAX_CONNECTIONS_PER_IP: '1000000',
      PARLEY_WS_IP_FRAMES_PER_SECOND: '10000000',
      PARLEY_WS_FRAMES_PER_SECOND: '1000',
      PARLEY_WS_FRAMES_BURST: '2000',
      PUBLIC_RATE_LIMIT_PER_MINUTE: '100000',
      ...(opt['server-node-options'] ? { NODE_OPTIONS: opt['server-node-options'] } : {}),
      ...extra,
    },
    false,
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20000)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited:\n${out}`);
    if ((await fetch(`${base}/readyz`).catch(() => null))?.status === 200) break;
    if (Date.now() > deadline) throw new Error(`server not ready in 60 s:\n${out}`);
    await sleep(100);
  }
  return { child, pid: child.pid!, base, wsBase: `ws://127.0.0.1:${port}`, output: () => out };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------- workers ----------

interface Worker {
  child: ChildProcess;
  events: WorkerEvent[];
  waiters: (() => void)[];
}

function startWorker(): Worker {
  const child = spawnNode(['scripts/bench/chat-load-worker.ts'], {}, true);
  const w: Worker = { child, events: [], waiters: [] };
  child.on('message', (m: WorkerEvent) => {
    if (m.ev === 'error') log('worker error:', m.message);
    w.events.push(m);
    for (const f of w.waiters.splice(0)) f();
  });
  return w;
}

async function ask<E extends WorkerEvent['ev']>(
  w: Worker,
  cmd: WorkerCommand,
  ev: E,
  timeoutMs: number,
): Promise<Extract<WorkerEvent, { ev: E }>> {
  w.child.send(cmd);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = w.events.findIndex((e) => e.ev === ev || e.ev === 'error');
    if (i >= 0) {
      const e = w.events.splice(i, 1)[0]!;
      if (e.ev === 'error') throw new Error(`worker: ${e.message}`);
      return e as Extract<WorkerEvent, { ev: E }>;
    }
    if (Date.now() > deadline) throw new Error(`worker did not answer ${cmd.cmd} in ${timeoutMs} ms`);
    if (w.child.exitCode !== null) throw new Error('worker exited');
    await new Promise<void>((r) => {
      const t = setTimeout(r, 1000);
      w.waiters.push(() => (clearTimeout(t), r()));
    });
  }
}

const askAll = <E extends WorkerEvent['ev']>(
  ws: Worker[],
  cmd: (i: number) => WorkerCommand,
  ev: E,
  t: number,
) => Promise.all(ws.map((w, i) => ask(w, cmd(i), ev, t)));

// ---------- raw limits ----------

async function pgbenchTps(seconds: number): Promise<number | null> {
  await sql(
    dbUrl,
    'create table bench_pgbench (id bigserial primary key, body text not null, created_at timestamptz not null default now())',
  );
  const file = path.join(tmp, 'insert.sql');
  writeFileSync(file, "insert into bench_pgbench (body) values ('hello from pgbench');\n");
  const child = spawn('pgbench', ['-n', '-c', '16', '-j', '2', '-T', String(seconds), '-f', file, dbUrl], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  children.delete(child);
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
  if (code !== 0 || !m) {
    log('pgbench failed (is it installed? apt-get install postgresql-client):', out.slice(-500));
    return null;
  }
  return Number(m[1]);
}

async function bareLoop(workers: Worker[], seconds: number) {
  const child = spawnNode(['scripts/bench/chat-load-bare.ts', dbUrl], {}, true);
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', () => reject(new Error('bare server exited')));
  });
  const pairsPerWorker = 50;
  const results = await askAll(
    workers,
    (i) => ({
      cmd: 'bare',
      url: `ws://127.0.0.1:${port}`,
      pairs: pairsPerWorker,
      pairOffset: i * pairsPerWorker,
      inflight: 8,
      durationMs: seconds * 1000,
    }),
    'bare',
    seconds * 1000 + 60_000,
  );
  child.kill('SIGKILL');
  const acks = results.reduce((a, r) => a + r.acks, 0);
  const forwards = results.reduce((a, r) => a + r.forwards, 0);
  const ms = Math.max(...results.map((r) => r.ms));
  return { msgPerSec: acks / (ms / 1000), acks, forwards, errors: results.reduce((a, r) => a + r.errors, 0) };
}

// ---------- setup through the API ----------

async function api(
  base: string,
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
  return { json: (text ? JSON.parse(text) : {}) as Record<string, unknown>, res };
}

async function login(base: string, username: string, password: string) {
  const { res } = await api(base, 'POST', '/api/v1/auth/login', { username, password });
  return res.headers.getSetCookie()[0]!.split(';')[0]!;
}

async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

async function setup(server: Server) {
  const t0 = Date.now();
  const admin = await login(server.base, 'admin', ADMIN_PASSWORD);
  const password = `bench-agent-${randomBytes(8).toString('hex')}`;
  const agentIds = await pool(M, 4, async (i) => {
    const team = await api(
      server.base,
      'POST',
      '/api/v1/teams',
      { name: `bench team ${i}` },
      { cookie: admin },
    );
    const user = await api(
      server.base,
      'POST',
      '/api/v1/users',
      { username: `bench-agent-${i}`, displayName: `Agent ${i}`, role: 'agent', password },
      { cookie: admin },
    );
    const userId = (user.json.user as { id: string }).id;
    const teamId = team.json.id as string;
    await api(server.base, 'PUT', `/api/v1/teams/${teamId}/members/${userId}`, undefined, { cookie: admin });
    return { userId, teamId };
  });
  const cookies = await pool(M, 2, (i) => login(server.base, `bench-agent-${i}`, password));
  log(`setup: ${M} agents and teams in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const t1 = Date.now();
  const visitors = await pool(N, 16, async () => {
    const s = await api(server.base, 'POST', '/api/v1/widget/session', {});
    const token = s.json.token as string;
    const c = await api(
      server.base,
      'POST',
      '/api/v1/widget/conversations',
      {},
      { authorization: `Bearer ${token}` },
    );
    return { token, conversationId: c.json.id as string };
  });
  log(`setup: ${N} visitor sessions and conversations in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  // Conversation i → agent i mod M, in that agent's team (setup only: one statement).
  const byAgent: string[][] = Array.from({ length: M }, () => []);
  visitors.forEach((v, i) => byAgent[i % M]!.push(v.conversationId));
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  for (let a = 0; a < M; a++) {
    await c.query('update conversations set team_id = $1, assignee_id = $2 where id = any($3::uuid[])', [
      agentIds[a]!.teamId,
      agentIds[a]!.userId,
      byAgent[a],
    ]);
  }
  await c.end();
  const agents: AgentSpec[] = cookies.map((cookie, a) => ({ cookie, conversationIds: byAgent[a]! }));
  return { visitors, agents };
}

// ---------- statistics ----------

function pct(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const ms = (v: number | null) => (v === null ? '—' : `${v.toFixed(1)} ms`);

function merge(parts: PhaseStats[]) {
  const cat = (k: keyof PhaseStats) => parts.flatMap((p) => p[k] as number[]);
  const sum = (k: keyof PhaseStats) => parts.reduce((a, p) => a + (p[k] as number), 0);
  const errors: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.errorFrames)) errors[k] = (errors[k] ?? 0) + v;
  const ackS = cat('ackFromScheduled');
  const lat = (xs: number[]) => ({ p50: pct(xs, 50), p95: pct(xs, 95), p99: pct(xs, 99), max: pct(xs, 100) });
  return {
    phase: parts[0]!.phase,
    scheduled: sum('scheduled'),
    sent: sum('sent'),
    acked: sum('acked'),
    agentSent: sum('agentSent'),
    agentAcked: sum('agentAcked'),
    ackFromScheduled: lat(ackS),
    ackFromSend: lat(cat('ackFromSend')),
    agentAck: lat(cat('agentAck')),
    deliverToAgent: lat(cat('deliverToAgent')),
    deliverToVisitor: lat(cat('deliverToVisitor')),
    undelivered: sum('undelivered'),
    duplicateDeliveries: sum('duplicateDeliveries'),
    errorFrames: errors,
    unexpectedCloses: sum('unexpectedCloses'),
    maxSendLagMs: Math.max(...parts.map((p) => p.lastSendLagMs)),
    firstScheduledAt: Math.min(...parts.map((p) => p.firstScheduledAt)),
    lastAckAt: Math.max(...parts.map((p) => p.lastAckAt)),
    loadGenCpuMs: sum('cpuUserMs') + sum('cpuSystemMs'),
    loadGenLoopDelayP99Ms: Math.max(...parts.map((p) => p.loopDelayP99Ms)),
    loadGenLoopDelayMaxMs: Math.max(...parts.map((p) => p.loopDelayMaxMs)),
  };
}
type Merged = ReturnType<typeof merge>;

interface Measured {
  stats: Merged;
  wallS: number;
  serverCpuMs: number;
  /** CPU of every PostgreSQL process on the machine over the phase. */
  postgresCpuMs: number;
  /** The PostgreSQL processes that used the most CPU in the phase (ms and what they are). */
  postgresBusiest: string[];
  /** Messages per group-commit statement (with several processes: the one that answered). */
  meanAppendBatch: number | null;
  serverSysMs: number;
  serverRssKbStart: number;
  serverRssKbEnd: number;
  machineBusyPct: number;
  rssSamples: number[];
  heapSamples: (number | null)[];
}

async function runPhase(
  server: Server,
  workers: Worker[],
  shares: number[],
  phase: string,
  totalRate: number,
  seconds: number,
  drainS = 10,
): Promise<Measured> {
  const visitorRate = totalRate / (1 + REPLY);
  const s0 = procSample(server.pid);
  const m0 = machineSample();
  const pg0 = postgresSample();
  const c0 = await appendCounters(server);
  const rssSamples: number[] = [];
  const heapSamples: (number | null)[] = [];
  const sampler = setInterval(() => {
    rssSamples.push(procSample(server.pid).rssKb);
    void heapUsedMb(server).then((h) => heapSamples.push(h));
  }, 10_000);
  const t0 = Date.now();
  const parts = await askAll(
    workers,
    (i) => ({
      cmd: 'run',
      phase,
      visitorRate: visitorRate * shares[i]!,
      durationMs: seconds * 1000,
      drainMs: drainS * 1000,
    }),
    'phase',
    (seconds + drainS) * 1000 + 60_000,
  );
  clearInterval(sampler);
  const s1 = procSample(server.pid);
  const m1 = machineSample();
  const pg1 = postgresSample();
  const pgCpuMs = postgresCpuMsBetween(pg0, pg1);
  const c1 = await appendCounters(server);
  const stats = merge(parts.map((p) => p.stats));
  return {
    stats,
    wallS: (Date.now() - t0) / 1000,
    serverCpuMs: s1.cpuMs - s0.cpuMs,
    serverSysMs: s1.sysMs - s0.sysMs,
    serverRssKbStart: s0.rssKb,
    serverRssKbEnd: s1.rssKb,
    machineBusyPct: 100 * (1 - (m1.idle - m0.idle) / (m1.total - m0.total)),
    postgresCpuMs: pgCpuMs,
    postgresBusiest: busiestPostgres(pg0, pg1, 6),
    meanAppendBatch:
      c0 && c1 && c1.statements > c0.statements
        ? (c1.messages - c0.messages) / (c1.statements - c0.statements)
        : null,
    rssSamples,
    heapSamples,
  };
}

function describePhase(m: Measured) {
  const s = m.stats;
  const persistedWindowS = Math.max(0.001, (s.lastAckAt - s.firstScheduledAt) / 1000);
  const persisted = s.acked + s.agentAcked;
  return {
    phase: s.phase,
    targetSends: s.scheduled,
    visitorSent: s.sent,
    visitorAcked: s.acked,
    agentSent: s.agentSent,
    agentAcked: s.agentAcked,
    ackedPerSec: persisted / persistedWindowS,
    ackLatencyFromScheduled: s.ackFromScheduled,
    ackLatencyFromSend: s.ackFromSend,
    agentReplyAckLatency: s.agentAck,
    deliveryVisitorToAgent: s.deliverToAgent,
    deliveryAgentToVisitor: s.deliverToVisitor,
    undeliveredAtEnd: s.undelivered,
    duplicateDeliveries: s.duplicateDeliveries,
    errorFrames: s.errorFrames,
    unexpectedCloses: s.unexpectedCloses,
    serverCpuMs: m.serverCpuMs,
    serverCpuUsPerMessage: persisted ? (1000 * m.serverCpuMs) / persisted : null,
    /** The kernel's share (stime) of serverCpuUsPerMessage. */
    serverSysUsPerMessage: persisted ? (1000 * m.serverSysMs) / persisted : null,
    serverCpuPct: (100 * m.serverCpuMs) / (m.wallS * 1000),
    serverRssMbStart: m.serverRssKbStart / 1024,
    serverRssMbEnd: m.serverRssKbEnd / 1024,
    loadGeneratorCpuPct: (100 * s.loadGenCpuMs) / (m.wallS * 1000),
    loadGeneratorLoopDelayP99Ms: s.loadGenLoopDelayP99Ms,
    loadGeneratorMaxSendLagMs: s.maxSendLagMs,
    machineBusyPct: m.machineBusyPct,
    postgresCpuPct: (100 * m.postgresCpuMs) / (m.wallS * 1000),
    postgresCpuUsPerMessage: persisted ? (1000 * m.postgresCpuMs) / persisted : null,
    loadGeneratorCpuUsPerMessage: persisted ? (1000 * s.loadGenCpuMs) / persisted : null,
    meanAppendBatch: m.meanAppendBatch,
    postgresBusiest: m.postgresBusiest,
  };
}

async function databaseCheck(workers: Worker[]) {
  const reports = await askAll(workers, () => ({ cmd: 'report' }), 'report', 120_000);
  const sent = reports.flatMap((r) => r.sent);
  const acked = new Set(reports.flatMap((r) => r.acked));
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    const rows = await c.query<{ client_id: string; n: string }>(
      'select client_id, count(*) as n from messages where client_id like $1 group by client_id',
      [`${RUN_ID}-%`],
    );
    const inDb = new Map(rows.rows.map((r) => [r.client_id, Number(r.n)]));
    const sentSet = new Set(sent);
    let lost = 0;
    let unackedPersisted = 0;
    let unackedNotPersisted = 0;
    for (const id of sentSet) {
      const n = inDb.get(id) ?? 0;
      if (acked.has(id) && n === 0) lost++;
      if (!acked.has(id)) {
        if (n > 0) unackedPersisted++;
        else unackedNotPersisted++;
      }
    }
    const duplicated = [...inDb.values()].filter((n) => n > 1).length;
    const unknown = [...inDb.keys()].filter((id) => !sentSet.has(id)).length;
    const gaps = await c.query<{ n: string }>(
      `select count(*) as n from (select conversation_id from messages group by conversation_id
         having count(*) <> max(seq) or min(seq) <> 1) g`,
    );
    const span = await c.query<{ n: string; s: number | null }>(
      `select count(*) as n, extract(epoch from max(created_at) - min(created_at)) as s
         from messages where client_id like $1`,
      [`${RUN_ID}-%`],
    );
    return {
      sent: sentSet.size,
      acked: acked.size,
      rows: inDb.size,
      lost,
      duplicated,
      unknownRows: unknown,
      unackedPersisted,
      unackedNotPersisted,
      conversationsWithSeqGaps: Number(gaps.rows[0]!.n),
      rowsPerSecondByCreatedAt: span.rows[0]!.s ? Number(span.rows[0]!.n) / Number(span.rows[0]!.s) : null,
    };
  } finally {
    await c.end();
  }
}

// ---------- main ----------

/** Open-file limit of this process (children inherit it): every socket is a descriptor. */
function checkLimits() {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const soft = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 0);
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number);
  const ports = high! - low! + 1;
  // The server holds one descriptor per client; each worker its share, plus slack.
  if (soft < N + M + 500)
    throw new Error(`ulimit -n is ${soft}: raise it (ulimit -n ${N + M + 1000}) for ${N + M} sockets`);
  // A reconnect storm leaves the closed connections in TIME_WAIT on the client side.
  const need = (SCENARIO === 'reconnect' ? 2 : 1) * (N + M) + 1000;
  if (ports < need)
    log(`warning: ${ports} ephemeral ports (ip_local_port_range) for about ${need} connections`);
  return { openFilesLimit: soft, ephemeralPorts: ports };
}

async function main() {
  const report: Record<string, unknown> = {
    scenario: SCENARIO,
    params: { visitors: N, agents: M, rate: RATE, replyRatio: REPLY, duration: DURATION_S, workers: W },
    machine: { cpus: cpus().length, startedAt: new Date().toISOString(), ...checkLimits() },
  };
  await sql(ADMIN_URL, `drop database if exists ${DB_NAME}`);
  await sql(ADMIN_URL, `create database ${DB_NAME}`);
  log(`database ${DB_NAME}; starting the server`);
  const server = await startServer();
  log(`server pid ${server.pid} at ${server.base}`);
  report.serverRssMbAtStart = procSample(server.pid).rssKb / 1024;
  if (opt.search === 'off') {
    await sql(
      dbUrl,
      `alter table messages disable trigger messages_search_insert, disable trigger messages_search_update,
         disable trigger messages_search_delete`,
    );
    log('message search triggers disabled (--search off)');
  }
  report.search = opt.search;
  const workers = Array.from({ length: W }, startWorker);

  if (RAW_S > 0) {
    log(`raw limits: pgbench single-row INSERT, 16 clients, ${RAW_S} s`);
    const tps = await pgbenchTps(RAW_S);
    log(`raw limits: bare ws + pg insert-then-forward loop, ${RAW_S} s`);
    const bare = await bareLoop(workers, RAW_S);
    report.raw = { pgbenchInsertTps16: tps, bareLoop: bare };
    log(`raw: pgbench ${tps?.toFixed(0)} tps; bare loop ${bare.msgPerSec.toFixed(0)} msg/s`);
  }

  const { visitors, agents } = await setup(server);
  // Agent a and its conversations live in worker a mod W.
  const vParts: VisitorSpec[][] = Array.from({ length: W }, () => []);
  const aParts: AgentSpec[][] = Array.from({ length: W }, () => []);
  agents.forEach((a, i) => aParts[i % W]!.push(a));
  visitors.forEach((v, i) => vParts[(i % M) % W]!.push(v));
  const shares = vParts.map((p) => p.length / N);
  await askAll(
    workers,
    (i) => ({
      cmd: 'init',
      wsBase: server.wsBase,
      runId: RUN_ID,
      workerIndex: i,
      visitors: vParts[i]!,
      agents: aParts[i]!,
      replyRatio: REPLY,
    }),
    'ready',
    60_000,
  );
  const connect = async (who: 'visitors' | 'agents', share: number) => {
    const r = await askAll(
      workers,
      () => ({ cmd: 'connect', who, share, concurrency: 64, timeoutMs: 120_000 }),
      'connected',
      180_000,
    );
    const ok = r.reduce((a, x) => a + x.ok, 0);
    const failed = r.reduce((a, x) => a + x.failed, 0);
    const ms = Math.max(...r.map((x) => x.ms));
    log(`connected ${ok} ${who} (${failed} failed) in ${ms} ms`, r.flatMap((x) => x.failures).slice(0, 3));
    return { ok, failed, ms };
  };
  // RSS per idle authenticated socket: V8 grows its heap lazily and never hands all of it back,
  // so the first sockets also pay for heap growth. Two figures: average over all visitor sockets,
  // and the marginal cost of the second half (connected after the first half settled).
  report.connectAgents = await connect('agents', 1);
  await sleep(3000);
  const idle0 = procSample(server.pid);
  const half = await connect('visitors', 0.5);
  await sleep(5000);
  const idle1 = procSample(server.pid);
  const rest = await connect('visitors', 1);
  await sleep(5000);
  const idle2 = procSample(server.pid);
  report.connectVisitors = {
    ok: half.ok + rest.ok,
    failed: half.failed + rest.failed,
    ms: half.ms + rest.ms,
  };
  report.idleSockets = {
    rssMbBefore: idle0.rssKb / 1024,
    rssMbHalf: idle1.rssKb / 1024,
    rssMbAfter: idle2.rssKb / 1024,
    kbPerSocket: (idle2.rssKb - idle0.rssKb) / (half.ok + rest.ok),
    kbPerSocketSecondHalf: (idle2.rssKb - idle1.rssKb) / Math.max(1, rest.ok),
  };
  log(
    `idle sockets: RSS ${(idle0.rssKb / 1024).toFixed(1)} → ${(idle1.rssKb / 1024).toFixed(1)} → ${(idle2.rssKb / 1024).toFixed(1)} MB`,
  );

  const phases: ReturnType<typeof describePhase>[] = [];
  if (SCENARIO === 'load') {
    // A short warm-up at the same rate (JIT, pools, heap sizing); reported, not the figure.
    const warmup = Number(opt.warmup);
    if (warmup > 0)
      phases.push(describePhase(await runPhase(server, workers, shares, 'warmup', RATE, warmup, 5)));
    const m = await runPhase(server, workers, shares, 'load', RATE, DURATION_S);
    phases.push(describePhase(m));
  } else if (SCENARIO === 'saturation') {
    let rate = Number(opt['sat-start']);
    const limit = Number(opt['sat-p99-ms']);
    for (let step = 0; step < Number(opt['sat-max-steps']); step++) {
      const d = describePhase(
        await runPhase(server, workers, shares, `sat@${Math.round(rate)}`, rate, Number(opt['sat-step']), 5),
      );
      phases.push(d);
      const p99 = d.ackLatencyFromScheduled.p99 ?? Infinity;
      log(
        `saturation step ${Math.round(rate)}/s: acked ${d.ackedPerSec.toFixed(0)}/s, p99 ${p99.toFixed(1)} ms`,
      );
      const behind = d.visitorAcked < 0.98 * d.targetSends || d.undeliveredAtEnd > 0;
      if (p99 > limit || behind) break;
      rate *= Number(opt['sat-factor']);
    }
    const kept = phases.filter(
      (p) => (p.ackLatencyFromScheduled.p99 ?? Infinity) <= limit && p.undeliveredAtEnd === 0,
    );
    const best = kept.length ? Math.max(...kept.map((p) => p.ackedPerSec)) : null;
    const raw = report.raw as
      { pgbenchInsertTps16: number | null; bareLoop: { msgPerSec: number } } | undefined;
    report.saturation = {
      p99LimitMs: limit,
      bestSustainedMsgPerSec: best,
      pctOfPgbenchInsert:
        best !== null && raw?.pgbenchInsertTps16 ? (100 * best) / raw.pgbenchInsertTps16 : null,
      pctOfBareLoop: best !== null && raw ? (100 * best) / raw.bareLoop.msgPerSec : null,
    };
  } else if (SCENARIO === 'memory') {
    const soak = Number(opt.soak);
    const m = await runPhase(server, workers, shares, 'soak', RATE, soak);
    phases.push(describePhase(m));
    // V8 collects in large steps (RSS can drop by 100 MB at once), so single samples mislead:
    // growth compares the median of the samples just after the warm-up (20–40 % of the soak)
    // with the median of the last 20 %.
    const median = (xs: number[]) => {
      const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      return v.length ? v[Math.floor(v.length / 2)]! : NaN;
    };
    const windows = (xs: number[]) => {
      const n = xs.length;
      const w = Math.max(1, Math.floor(n / 5));
      return {
        early: median(xs.slice(Math.floor(n / 5), Math.floor(n / 5) + w)),
        late: median(xs.slice(n - w)),
      };
    };
    // And a least-squares line through every sample after the first 20 % (the warm-up): its
    // rise over that span, as a % of its starting value. A leak shows as a steady slope; the
    // sawtooth of collections averages out over a 10-minute soak.
    const trend = (xs: number[]) => {
      const pts = xs
        .map((y, i) => [i, y] as const)
        .slice(Math.floor(xs.length / 5))
        .filter(([, y]) => Number.isFinite(y));
      if (pts.length < 3) return { pct: NaN, mbPerMin: NaN };
      const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
      const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
      const slope =
        pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / pts.reduce((a, [x]) => a + (x - mx) ** 2, 0);
      const x0 = pts[0]![0];
      const x1 = pts.at(-1)![0];
      const start = my + slope * (x0 - mx);
      return { pct: (100 * slope * (x1 - x0)) / start, mbPerMin: slope * 6 }; // samples every 10 s
    };
    const rss = windows(m.rssSamples.map((k) => k / 1024));
    const heap = windows(m.heapSamples.map((h) => h ?? NaN));
    const rssTrend = trend(m.rssSamples.map((k) => k / 1024));
    const heapTrend = trend(m.heapSamples.map((h) => h ?? NaN));
    report.soak = {
      seconds: soak,
      rssMbSamplesEvery10s: m.rssSamples.map((k) => Number((k / 1024).toFixed(1))),
      heapUsedMbSamplesEvery10s: m.heapSamples.map((h) => (h === null ? null : Number(h.toFixed(1)))),
      rssMbEarlyMedian: rss.early,
      rssMbLateMedian: rss.late,
      growthPct: (100 * (rss.late - rss.early)) / rss.early,
      trendPct: rssTrend.pct,
      trendMbPerMinute: rssTrend.mbPerMin,
      heapUsedTrendPct: heapTrend.pct,
      heapUsedMbEarlyMedian: heap.early,
      heapUsedMbLateMedian: heap.late,
    };
  } else {
    // Reconnect storm: some traffic, all visitors go away, agents write to every conversation,
    // then every visitor reconnects at once and resumes from its last seq.
    phases.push(
      describePhase(await runPhase(server, workers, shares, 'before', RATE, Math.min(DURATION_S, 10))),
    );
    await askAll(workers, () => ({ cmd: 'disconnectVisitors' }), 'disconnected', 60_000);
    const sentAway = await askAll(
      workers,
      () => ({ cmd: 'agentsSendToAll', timeoutMs: 120_000 }),
      'agentsSent',
      180_000,
    );
    log(`agents wrote ${sentAway.reduce((a, r) => a + r.acked, 0)} messages while visitors were away`);
    const startAt = Date.now() + 500;
    const s0 = procSample(server.pid);
    const pg0 = postgresSample();
    const rc0 = await appendCounters(server);
    const r = await askAll(
      workers,
      () => ({
        cmd: 'reconnectVisitors',
        startAt,
        concurrency: Number(opt['storm-concurrency']),
        timeoutMs: 60_000,
      }),
      'reconnected',
      120_000,
    );
    const s1 = procSample(server.pid);
    const pg1 = postgresSample();
    const stormPgCpuMs = postgresCpuMsBetween(pg0, pg1);
    const rc1 = await appendCounters(server);
    report.storm = {
      clients: N,
      awaySent: sentAway.reduce((a, x) => a + x.sent, 0),
      awayAcked: sentAway.reduce((a, x) => a + x.acked, 0),
      reconnected: r.reduce((a, x) => a + x.ok, 0),
      failedHandshakes: r.reduce((a, x) => a + x.failedHandshakes, 0),
      failures: r.flatMap((x) => x.failures).slice(0, 5),
      resumed: r.reduce((a, x) => a + x.resumed, 0),
      secondsToAllResumed: (Math.max(...r.map((x) => x.lastResumedAt)) - startAt) / 1000,
      resumeMsP50: pct(
        r.flatMap((x) => x.resumeMs),
        50,
      ),
      resumeMsP99: pct(
        r.flatMap((x) => x.resumeMs),
        99,
      ),
      /** How the resumes spread over time: ms from the storm's start at p10, p25, …, p90. */
      resumeMsDeciles: [10, 25, 50, 75, 90].map((q) =>
        Math.round(
          pct(
            r.flatMap((x) => x.resumeMs),
            q,
          ) ?? NaN,
        ),
      ),
      resumedWithin5s: r.flatMap((x) => x.resumeMs).filter((ms) => ms <= 5000).length,
      replayedMessages: r.reduce((a, x) => a + x.replayed, 0),
      missed: r.reduce((a, x) => a + x.missed, 0),
      replayGaps: r.reduce((a, x) => a + x.gaps, 0),
      replayDuplicates: r.reduce((a, x) => a + x.duplicates, 0),
      serverCpuMs: s1.cpuMs - s0.cpuMs,
      serverSysMs: s1.sysMs - s0.sysMs,
      postgresCpuMs: stormPgCpuMs,
      loadGeneratorCpuMs: Math.round(r.reduce((a, x) => a + x.cpuMs, 0)),
      postgresBusiest: busiestPostgres(pg0, pg1),
      resumeStatements: rc0 && rc1 ? rc1.resumeStatements - rc0.resumeStatements : null,
      serverCpuUsPerResume:
        (1000 * (s1.cpuMs - s0.cpuMs)) /
        Math.max(
          1,
          r.reduce((a, x) => a + x.resumed, 0),
        ),
      serverRssMb: s1.rssKb / 1024,
    };
    // Live traffic still flows after the storm.
    phases.push(
      describePhase(await runPhase(server, workers, shares, 'after', RATE, Math.min(DURATION_S, 10))),
    );
  }
  report.phases = phases;
  // The search indexer's backlog when the load stops (--search on): queued changes and the age
  // of the oldest, i.e. the indexing lag at the end of the run.
  const backlog = await sql<{ n: number; lag: number | null }>(
    dbUrl,
    `select count(*)::int as n, extract(epoch from now() - min(created_at))::float8 as lag from search_changes`,
  );
  report.searchBacklog = backlog.rows[0];
  log(
    `search backlog at the end: ${backlog.rows[0]!.n} changes, lag ${(backlog.rows[0]!.lag ?? 0).toFixed(1)} s`,
  );
  report.database = await databaseCheck(workers);
  report.serverExited = server.child.exitCode;
  report.serverLogTail = server.output().slice(-2000);
  for (const w of workers) w.child.send({ cmd: 'exit' });
  return report;
}

function printReport(r: Record<string, unknown>) {
  const phases = (r.phases ?? []) as ReturnType<typeof describePhase>[];
  const lines: string[] = [];
  lines.push(`\n== chat-load: ${String(r.scenario)} ${JSON.stringify(r.params)}`);
  const raw = r.raw as { pgbenchInsertTps16: number | null; bareLoop: { msgPerSec: number } } | undefined;
  lines.push(`server RSS after start: ${(r.serverRssMbAtStart as number).toFixed(1)} MB`);
  if (raw)
    lines.push(
      `raw limits: pgbench INSERT @16 = ${raw.pgbenchInsertTps16?.toFixed(0) ?? '—'} tps; bare ws+pg loop = ${raw.bareLoop.msgPerSec.toFixed(0)} msg/s`,
    );
  const idle = r.idleSockets as {
    kbPerSocket: number;
    kbPerSocketSecondHalf: number;
    rssMbBefore: number;
    rssMbAfter: number;
  };
  lines.push(
    `idle authenticated sockets: ${idle.kbPerSocket.toFixed(1)} KB each, second half ${idle.kbPerSocketSecondHalf.toFixed(1)} KB each (RSS ${idle.rssMbBefore.toFixed(1)} → ${idle.rssMbAfter.toFixed(1)} MB)`,
  );
  for (const p of phases) {
    lines.push(
      `-- phase ${p.phase}: sent ${p.visitorSent}/${p.targetSends} visitor + ${p.agentSent} agent; acked ${p.visitorAcked} + ${p.agentAcked} → ${p.ackedPerSec.toFixed(0)} msg/s persisted`,
    );
    const a = p.ackLatencyFromScheduled;
    lines.push(
      `   ack (from scheduled): p50 ${ms(a.p50)}  p95 ${ms(a.p95)}  p99 ${ms(a.p99)}  max ${ms(a.max)}`,
    );
    const d1 = p.deliveryVisitorToAgent;
    const d2 = p.deliveryAgentToVisitor;
    lines.push(
      `   delivery visitor→agent: p50 ${ms(d1.p50)} p99 ${ms(d1.p99)}; agent→visitor: p50 ${ms(d2.p50)} p99 ${ms(d2.p99)}; agent ack p99 ${ms(p.agentReplyAckLatency.p99)}`,
    );
    lines.push(
      `   undelivered ${p.undeliveredAtEnd}, duplicate deliveries ${p.duplicateDeliveries}, error frames ${JSON.stringify(p.errorFrames)}, unexpected closes ${p.unexpectedCloses}`,
    );
    lines.push(
      `   server: CPU ${p.serverCpuPct.toFixed(0)} % (${p.serverCpuUsPerMessage?.toFixed(0) ?? '—'} µs/message, of which system ${p.serverSysUsPerMessage?.toFixed(0) ?? '—'}), RSS ${p.serverRssMbStart.toFixed(1)} → ${p.serverRssMbEnd.toFixed(1)} MB; PostgreSQL CPU ${p.postgresCpuPct.toFixed(0)} % (${p.postgresCpuUsPerMessage?.toFixed(0) ?? '—'} µs/message, ${p.meanAppendBatch?.toFixed(1) ?? '—'} messages per append statement); load generator CPU ${p.loadGeneratorCpuPct.toFixed(0)} % (${p.loadGeneratorCpuUsPerMessage?.toFixed(0) ?? '—'} µs/message, loop delay p99 ${p.loadGeneratorLoopDelayP99Ms.toFixed(1)} ms, send lag ${p.loadGeneratorMaxSendLagMs.toFixed(1)} ms); machine busy ${p.machineBusyPct.toFixed(0)} %`,
    );
  }
  for (const k of ['saturation', 'soak', 'storm', 'database'] as const) {
    if (r[k]) lines.push(`${k}: ${JSON.stringify(r[k])}`);
  }
  console.log(lines.join('\n'));
}

// ---------- --repeat N: N whole runs, then the medians ----------

/** What keyFigures reads from a run's JSON report. */
interface RunReport {
  phases?: ReturnType<typeof describePhase>[];
  idleSockets?: { kbPerSocket: number; kbPerSocketSecondHalf: number };
  raw?: { pgbenchInsertTps16: number | null; bareLoop: { msgPerSec: number } };
  saturation?: {
    bestSustainedMsgPerSec: number | null;
    pctOfPgbenchInsert: number | null;
    pctOfBareLoop: number | null;
  };
  soak?: { growthPct: number; trendPct: number };
  storm?: {
    secondsToAllResumed: number;
    serverCpuUsPerResume: number;
    failedHandshakes: number;
    missed: number;
  };
  database?: { lost: number; duplicated: number };
}

/** The figures the issue asks for, from one run's report (undefined when not measured). */
function keyFigures(r: RunReport): Record<string, number | null | undefined> {
  const phases = r.phases ?? [];
  const main = phases.find((p) => p.phase === 'load' || p.phase === 'soak') ?? phases.at(-1);
  return {
    'persisted msg/s': main?.ackedPerSec,
    'ack p50 ms': main?.ackLatencyFromScheduled.p50,
    'ack p95 ms': main?.ackLatencyFromScheduled.p95,
    'ack p99 ms': main?.ackLatencyFromScheduled.p99,
    'delivery visitor→agent p99 ms': main?.deliveryVisitorToAgent.p99,
    'delivery agent→visitor p99 ms': main?.deliveryAgentToVisitor.p99,
    'server CPU µs/message': main?.serverCpuUsPerMessage ?? undefined,
    'server RSS MB at end': main?.serverRssMbEnd,
    'KB per idle socket': r.idleSockets?.kbPerSocket,
    'KB per idle socket (second half)': r.idleSockets?.kbPerSocketSecondHalf,
    'pgbench INSERT@16 tps': r.raw?.pgbenchInsertTps16 ?? undefined,
    'bare loop msg/s': r.raw?.bareLoop?.msgPerSec,
    'saturation best msg/s': r.saturation?.bestSustainedMsgPerSec ?? undefined,
    'saturation % of pgbench': r.saturation?.pctOfPgbenchInsert ?? undefined,
    'saturation % of bare loop': r.saturation?.pctOfBareLoop ?? undefined,
    'soak RSS growth % (medians)': r.soak?.growthPct,
    'soak RSS trend % (fit)': r.soak?.trendPct,
    'storm s to all resumed': r.storm?.secondsToAllResumed,
    'storm server CPU µs/resume': r.storm?.serverCpuUsPerResume,
    'storm failed handshakes (max)': r.storm?.failedHandshakes,
    'storm missed (max)': r.storm?.missed,
    'lost (max)': r.database?.lost,
    'duplicated (max)': r.database?.duplicated,
  };
}

async function repeatRuns(n: number): Promise<never> {
  const script = process.argv[1]!;
  const args: string[] = [];
  for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i]!;
    if (a === '--repeat' || a === '--out') i++;
    else if (!a.startsWith('--repeat=') && !a.startsWith('--out=')) args.push(a);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-bench-repeat-'));
  const reports: RunReport[] = [];
  let worst = 0;
  for (let i = 1; i <= n; i++) {
    log(`run ${i} of ${n}`);
    const file = path.join(dir, `run-${i}.json`);
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [script, ...args, '--out', file], { stdio: 'inherit' });
      child.once('exit', (c) => resolve(c ?? 2));
    });
    worst = Math.max(worst, code);
    try {
      reports.push(JSON.parse(readFileSync(file, 'utf8')) as RunReport);
    } catch {
      log(`run ${i} wrote no report (exit ${code})`);
    }
  }
  const figures = reports.map(keyFigures);
  const median: Record<string, number | null> = {};
  const lines = [`\n== chat-load: ${reports.length} runs — median (runs)`];
  for (const key of Object.keys(keyFigures({}))) {
    const xs = figures
      .map((f) => f[key])
      .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
    if (xs.length === 0) continue;
    const sorted = [...xs].sort((a, b) => a - b);
    median[key] = key.endsWith('(max)') ? sorted.at(-1)! : sorted[Math.floor((sorted.length - 1) / 2)]!;
    lines.push(
      `${key.padEnd(36)} ${median[key].toFixed(1).padStart(10)}   (${xs.map((x) => x.toFixed(1)).join(', ')})`,
    );
  }
  console.log(lines.join('\n'));
  if (opt.out) writeFileSync(opt.out, JSON.stringify({ runs: reports, median }, null, 2));
  rmSync(dir, { recursive: true, force: true });
  process.exit(worst);
}

if (Number(opt.repeat) > 1) {
  rmSync(tmp, { recursive: true, force: true });
  await repeatRuns(Number(opt.repeat));
}

const hardStop = setTimeout(() => {
  log('run limit reached: stopping');
  killAll();
  process.exit(2);
}, RUN_LIMIT_MS);
hardStop.unref();
process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});

let exitCode = 0;
try {
  const report = await main();
  printReport(report);
  if (opt.out) writeFileSync(opt.out, JSON.stringify(report, null, 2));
  const db = report.database as { lost: number; duplicated: number };
  if (db.lost > 0 || db.duplicated > 0) exitCode = 1;
} catch (err) {
  log('failed:', err);
  exitCode = 2;
} finally {
  await stopAll();
  if (!opt['keep-db'])
    await sql(ADMIN_URL, `drop database if exists ${DB_NAME} with (force)`).catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(exitCode);
