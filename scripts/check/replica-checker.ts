// The randomized multi-replica checker (issue 12): several real `parley serve` processes on one
// database, visitors and agents on random replicas following docs/PROTOCOL.md, random sends
// (plain, private notes, attachments), random disconnects that resume on another replica,
// LISTEN connections killed, a replica killed with -9 and restarted, and quiet spells long
// enough for every replica to forget its delivery marks. At the end it compares what every
// socket received with what the database committed. Run by `scripts/check/replicas.ts` (by hand,
// minutes long) and `server/test/e2e/replicas-checker.test.ts` (bounded, in the suite).
//
// What is checked (a violation is reported with the seed, client, socket and conversation):
//  - per socket and conversation: the seqs received are strictly ascending (no duplicate, no
//    reordering), all of them visible to that reader (no private note to a visitor, nothing of a
//    conversation an agent may not see), and exactly the visible seqs from where the socket
//    started (its resume point, or for live-only traffic the first one it got) to the last one
//    it got: no gap. A socket open at the end has everything up to the conversation's last seq,
//    and a live-only socket got every message whose send started after it was ready;
//  - per client: across all its sockets it received every visible seq of the conversations it
//    follows (it resumes from the highest contiguous seq, the protocol's rule);
//  - an ack never overtakes: when an ack for seq s arrives, that socket already received every
//    visible seq below s since it started;
//  - every acknowledged send is in the database exactly once, with the acknowledged seq; nothing
//    stays unacknowledged after the drain; each conversation's seqs are 1..last_seq.
//
// The seed fixes every random decision (who sends what when, who disconnects, which replica is
// killed); timing still varies between runs, so a failing seed is replayed to reproduce the same
// schedule of faults, not the same interleaving.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import WebSocket from 'ws';
import { freePort } from '../../server/src/platform/embedded-postgres.ts';
import type { ServerEvent } from '../../server/src/realtime/events.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CheckOptions {
  databaseUrl: string;
  seed: number;
  durationMs: number;
  /** Visitors plus agents (agents: a fifth, at least 3; the first is an admin). */
  clients: number;
  /** Sends per second over all clients. */
  sendsPerSecond?: number;
  replicas?: number;
  /** Each replica forgets idle conversations after this (PARLEY_REALTIME_FORGET_SECONDS). */
  forgetSeconds?: number;
  log?: (line: string) => void;
}

export interface CheckReport {
  seed: number;
  violations: string[];
  counts: Record<string, number>;
}

/** mulberry32: small, fast, good enough for choosing actions. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    chance: (p: number) => next() < p,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ADMIN_PASSWORD = 'checker-admin-password-0123';

// ---------------------------------------------------------------- replicas

interface Replica {
  index: number;
  port: number;
  base: string;
  wsBase: string;
  child: ChildProcess | null;
  alive: boolean;
  output: string;
}

async function startReplica(r: Replica, databaseUrl: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['server/src/cli/main.ts', 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      PARLEY_HOST: '127.0.0.1',
      PARLEY_PORT: String(r.port),
      PARLEY_LOG_LEVEL: 'warn',
      PARLEY_ENV_FILE: '/nonexistent',
      PARLEY_INITIAL_ADMIN_PASSWORD: ADMIN_PASSWORD,
      PARLEY_SHUTDOWN_TIMEOUT_SECONDS: '2',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  r.child = child;
  const keep = (d: Buffer) => (r.output = (r.output + d.toString()).slice(-20000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.once('exit', () => {
    if (r.child === child) {
      r.child = null;
      r.alive = false;
    }
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${r.base}/readyz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok && (await listenBackend(databaseUrl, child.pid!)) !== null) break;
    if (Date.now() > deadline || r.child !== child)
      throw new Error(`replica ${r.index} did not start:\n${r.output.slice(-3000)}`);
    await sleep(100);
  }
  r.alive = true;
}

/** Resolves when the process has exited (at once if it has, or if there is none). */
function exited(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function withDb<T>(databaseUrl: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

function listenBackend(databaseUrl: string, serverPid: number) {
  return withDb(databaseUrl, async (c) => {
    const r = await c.query<{ pid: number }>(
      'select pid from pg_stat_activity where application_name = $1 and datname = current_database()',
      [`parley-listen:${serverPid}`],
    );
    return r.rows[0]?.pid ?? null;
  });
}

// ---------------------------------------------------------------- clients

interface SocketLog {
  id: string;
  replica: number;
  readyAt: number;
  open: boolean;
  /** Followed conversations: the lastSeq this socket resumed from (after a reset: where it ended). */
  resumeFrom: Map<string, number>;
  /** Seqs of `message` frames, in arrival order, per conversation. */
  received: Map<string, number[]>;
  /** Acks: seq and how many seqs of that conversation this socket had received by then. */
  acks: { conversationId: string; seq: number; receivedBefore: number }[];
}

interface Send {
  clientId: string;
  conversationId: string;
  text: string;
  private: boolean;
  file: boolean;
  startedAt: number;
}

interface Client {
  name: string;
  kind: 'visitor' | 'agent';
  admin: boolean;
  teamId: string | null;
  token?: string;
  cookie?: string;
  /** Conversations resumed on every connect (a visitor: its own). */
  followed: string[];
  /** The protocol's lastSeq: highest seq up to which the client has every message it may see. */
  watermark: Map<string, number>;
  have: Map<string, Set<number>>;
  pending: Map<string, Send>;
  acked: Map<string, Send & { seq: number }>;
  sockets: SocketLog[];
  ws: WebSocket | null;
  current: SocketLog | null;
  resumed: Set<string>;
  replica: number;
  connecting: boolean;
  sent: number;
  errors: string[];
}

export async function runReplicaCheck(opts: CheckOptions): Promise<CheckReport> {
  const log = opts.log ?? (() => undefined);
  const rnd = prng(opts.seed);
  const R = opts.replicas ?? 3;
  const forgetSeconds = opts.forgetSeconds ?? 4;
  const catchUpSeconds = 2;
  const rate = opts.sendsPerSecond ?? 12;
  const counts: Record<string, number> = {
    replicas: R,
    sends: 0,
    privateNotes: 0,
    attachments: 0,
    reconnects: 0,
    listenKills: 0,
    replicaKills: 0,
    quietSpells: 0,
    resendConflicts: 0,
    bursts: 0,
  };
  const violations: string[] = [];
  const env = {
    PARLEY_WS_MAX_CONNECTIONS_PER_IP: '100000',
    PARLEY_WS_IP_FRAMES_PER_SECOND: '1000000',
    PARLEY_WS_FRAMES_PER_SECOND: '1000',
    PARLEY_WS_FRAMES_BURST: '2000',
    PUBLIC_RATE_LIMIT_PER_MINUTE: '100000',
    PARLEY_REALTIME_CATCHUP_SECONDS: String(catchUpSeconds),
    PARLEY_REALTIME_FORGET_SECONDS: String(forgetSeconds),
    PARLEY_METRICS_TOKEN: 'checker-metrics',
    DATABASE_POOL_MAX: '6',
  };
  const replicas: Replica[] = [];
  for (let i = 0; i < R; i++) {
    const port = await freePort();
    replicas.push({
      index: i,
      port,
      base: `http://127.0.0.1:${port}`,
      wsBase: `ws://127.0.0.1:${port}`,
      child: null,
      alive: false,
      output: '',
    });
  }
  // The first one migrates and creates the admin; the others start on a current schema.
  await startReplica(replicas[0]!, opts.databaseUrl, env);
  await Promise.all(replicas.slice(1).map((r) => startReplica(r, opts.databaseUrl, env)));
  const clients: Client[] = [];
  let stopping = false;
  const metrics: Record<string, number> = {};

  try {
    // ------------------------------------------------------------ setup through the API
    const http = async (method: string, url: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await fetch(url, {
        method,
        headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${text}`);
      return { json: JSON.parse(text) as Record<string, unknown>, res };
    };
    const login = async (base: string, username: string, password: string) => {
      const { res } = await http('POST', `${base}/api/v1/auth/login`, { username, password });
      return res.headers.getSetCookie()[0]!.split(';')[0]!;
    };
    const base0 = replicas[0]!.base;
    const admin = await login(base0, 'admin', ADMIN_PASSWORD);
    const teams: string[] = [];
    for (let t = 0; t < 2; t++) {
      teams.push(
        (await http('POST', `${base0}/api/v1/teams`, { name: `check-${t}` }, { cookie: admin })).json
          .id as string,
      );
    }
    const agentCount = Math.max(3, Math.round(opts.clients / 5));
    const visitorCount = Math.max(1, opts.clients - agentCount);
    const conversationTeam = new Map<string, string | null>();
    for (let i = 0; i < visitorCount; i++) {
      const base = rnd.pick(replicas).base;
      const token = (await http('POST', `${base}/api/v1/widget/session`, {})).json.token as string;
      const conv = (
        await http('POST', `${base}/api/v1/widget/conversations`, {}, { authorization: `Bearer ${token}` })
      ).json.id as string;
      const team = i % 3 === 2 ? null : teams[i % 3]!;
      if (team) {
        await http(
          'POST',
          `${base}/api/v1/conversations/${conv}/assign`,
          { assigneeId: null, teamId: team },
          {
            cookie: admin,
          },
        );
      }
      conversationTeam.set(conv, team);
      clients.push(newClient(`v${i}`, 'visitor', false, null, [conv], { token }));
    }
    const allConversations = [...conversationTeam.keys()];
    for (let i = 0; i < agentCount; i++) {
      const isAdmin = i === 0;
      const username = `check-agent-${i}`;
      const created = await http(
        'POST',
        `${base0}/api/v1/users`,
        { username, displayName: username, role: isAdmin ? 'admin' : 'agent' },
        { cookie: admin },
      );
      const id = (created.json.user as { id: string }).id;
      const teamId = isAdmin ? null : teams[i % 2]!;
      if (teamId)
        await http('PUT', `${base0}/api/v1/teams/${teamId}/members/${id}`, undefined, { cookie: admin });
      const cookie = await login(base0, username, created.json.oneTimePassword as string);
      const visible = allConversations.filter(
        (c) => isAdmin || [null, teamId].includes(conversationTeam.get(c)!),
      );
      const followed = Array.from({ length: Math.min(6, visible.length) }, () => rnd.pick(visible));
      clients.push(newClient(`a${i}`, 'agent', isAdmin, teamId, [...new Set(followed)], { cookie }));
    }
    counts.visitors = visitorCount;
    counts.agents = agentCount;
    counts.conversations = allConversations.length;
    log(`setup: ${visitorCount} visitors, ${agentCount} agents, ${R} replicas`);

    function newClient(
      name: string,
      kind: 'visitor' | 'agent',
      isAdmin: boolean,
      teamId: string | null,
      followed: string[],
      auth: { token?: string; cookie?: string },
    ): Client {
      return {
        name,
        kind,
        admin: isAdmin,
        teamId,
        ...auth,
        followed,
        watermark: new Map(followed.map((c) => [c, 0])),
        have: new Map(followed.map((c) => [c, new Set<number>()])),
        pending: new Map(),
        acked: new Map(),
        sockets: [],
        ws: null,
        current: null,
        resumed: new Set(),
        replica: -1,
        connecting: false,
        sent: 0,
        errors: [],
      };
    }

    // ------------------------------------------------------------ the protocol, client side
    function advance(c: Client, conversationId: string) {
      const have = c.have.get(conversationId)!;
      let w = c.watermark.get(conversationId)!;
      while (have.has(w + 1)) w++;
      c.watermark.set(conversationId, w);
    }

    function onEvent(c: Client, sock: SocketLog, e: ServerEvent) {
      switch (e.type) {
        case 'message': {
          const id = e.message.conversationId;
          let list = sock.received.get(id);
          if (!list) sock.received.set(id, (list = []));
          list.push(e.message.seq);
          if (e.message.private && c.kind === 'visitor')
            violations.push(`${c.name}: private note ${id}#${e.message.seq}`);
          const have = c.have.get(id);
          if (have) {
            have.add(e.message.seq);
            advance(c, id);
          }
          if (e.message.clientId && c.pending.has(e.message.clientId)) {
            // Our own message came back before its ack: fine, the ack follows.
          }
          return;
        }
        case 'resumed': {
          const id = e.conversationId;
          if (!c.watermark.has(id)) return;
          if (e.reset) {
            sock.resumeFrom.set(id, e.lastSeq);
            violations.push(`${c.name}: unexpected reset of ${id} to ${e.lastSeq}`);
          }
          // Complete through lastSeq (a visitor's skipped private notes included).
          c.watermark.set(id, Math.max(c.watermark.get(id)!, e.lastSeq));
          advance(c, id);
          c.resumed.add(id);
          for (const s of c.pending.values()) if (s.conversationId === id && !s.file) transmit(c, s);
          return;
        }
        case 'ack': {
          const s = c.pending.get(e.clientId);
          const known = c.acked.get(e.clientId);
          if (known) {
            if (known.seq !== e.seq)
              violations.push(`${c.name}: two acks for ${e.clientId}: ${known.seq}, ${e.seq}`);
            return;
          }
          if (!s) return;
          c.pending.delete(e.clientId);
          c.acked.set(e.clientId, { ...s, seq: e.seq });
          sock.acks.push({
            conversationId: e.conversationId,
            seq: e.seq,
            receivedBefore: sock.received.get(e.conversationId)?.length ?? 0,
          });
          return;
        }
        case 'error':
          // A resend racing its original still being stored is told to resend (conflict);
          // server trouble means the same. Both are retried with the same client id.
          if (e.code === 'conflict' && e.ref && c.pending.has(e.ref)) counts.resendConflicts!++;
          else if (e.code !== 'unavailable' && e.code !== 'internal')
            c.errors.push(`${e.code}: ${e.message}`);
          return;
        default:
          return;
      }
    }

    function transmit(c: Client, s: Send) {
      if (!c.ws || c.ws.readyState !== WebSocket.OPEN || !c.resumed.has(s.conversationId)) return;
      c.ws.send(
        JSON.stringify({
          type: 'send',
          ref: s.clientId,
          conversationId: s.conversationId,
          clientId: s.clientId,
          text: s.text,
          ...(s.private ? { private: true } : {}),
        }),
      );
    }

    function aliveReplicas(except?: number) {
      const up = replicas.filter((r) => r.alive && r.index !== except);
      return up.length ? up : replicas.filter((r) => r.alive);
    }

    function connect(c: Client, avoid?: number) {
      if (c.connecting || stopping) return;
      const choices = aliveReplicas(avoid);
      if (choices.length === 0) {
        setTimeout(() => connect(c), 500);
        return;
      }
      const r = rnd.pick(choices);
      c.connecting = true;
      const ws = new WebSocket(
        `${r.wsBase}${c.kind === 'visitor' ? '/api/v1/widget/ws' : '/api/v1/ws'}`,
        c.cookie ? { headers: { cookie: c.cookie } } : {},
      );
      const sock: SocketLog = {
        id: `${c.name}/${c.sockets.length}@r${r.index}`,
        replica: r.index,
        readyAt: 0,
        open: false,
        resumeFrom: new Map(),
        received: new Map(),
        acks: [],
      };
      let opened = false;
      ws.on('open', () => {
        opened = true;
        c.sockets.push(sock);
        c.ws = ws;
        c.current = sock;
        c.replica = r.index;
        c.resumed.clear();
        sock.open = true;
        const resume = c.followed.map((id) => ({ conversationId: id, lastSeq: c.watermark.get(id)! }));
        for (const x of resume) sock.resumeFrom.set(x.conversationId, x.lastSeq);
        ws.send(JSON.stringify({ type: 'hello', ...(c.token ? { token: c.token } : {}), resume }));
      });
      ws.on('message', (data) => {
        const e = JSON.parse((data as Buffer).toString('utf8')) as ServerEvent;
        if (e.type === 'ready') {
          sock.readyAt = Date.now();
          c.connecting = false;
        }
        onEvent(c, sock, e);
      });
      ws.on('close', () => {
        sock.open = false;
        c.connecting = false;
        if (c.ws === ws) {
          c.ws = null;
          c.current = null;
          c.resumed.clear();
        }
        if (!stopping) setTimeout(() => connect(c, r.index), opened ? 100 + rnd.int(900) : 300);
      });
      ws.on('error', () => undefined);
    }

    async function sendFile(c: Client, s: Send) {
      const r = rnd.pick(aliveReplicas());
      const form = new FormData();
      form.append('file', new Blob([`${s.text}\n`], { type: 'text/plain' }), 'note.txt');
      const url =
        c.kind === 'visitor'
          ? `${r.base}/api/v1/widget/conversations/${s.conversationId}/attachments?clientId=${s.clientId}`
          : `${r.base}/api/v1/conversations/${s.conversationId}/attachments?clientId=${s.clientId}&private=${s.private}`;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: c.token ? { authorization: `Bearer ${c.token}` } : { cookie: c.cookie! },
          body: form,
        });
        const body = (await res.json()) as { seq?: number };
        if ((res.status === 200 || res.status === 201) && typeof body.seq === 'number') {
          if (c.pending.delete(s.clientId)) c.acked.set(s.clientId, { ...s, seq: body.seq });
        } else if (res.status === 409) {
          counts.resendConflicts!++;
        } else if (res.status < 500) {
          c.errors.push(`attachment ${res.status} ${JSON.stringify(body)}`);
          c.pending.delete(s.clientId);
        }
      } catch {
        // The replica went away: retried later with the same client id.
      }
    }

    function sendOne(c: Client, to?: string, allowFile = true) {
      const conversationId = to ?? rnd.pick(c.followed);
      if (!c.resumed.has(conversationId)) return;
      const file = allowFile && rnd.chance(0.06);
      const isPrivate = c.kind === 'agent' && rnd.chance(0.3);
      const s: Send = {
        clientId: `chk.${opts.seed}.${c.name}.${c.sent++}`,
        conversationId,
        text: `${c.name} #${c.sent} ${isPrivate ? 'private' : 'public'}`,
        private: isPrivate,
        file,
        startedAt: Date.now(),
      };
      c.pending.set(s.clientId, s);
      counts.sends!++;
      if (isPrivate) counts.privateNotes!++;
      if (file) {
        counts.attachments!++;
        void sendFile(c, s);
      } else transmit(c, s);
    }

    // ------------------------------------------------------------ the run
    const followers = new Map<string, Client[]>();
    for (const c of clients)
      for (const id of c.followed) followers.set(id, [...(followers.get(id) ?? []), c]);
    for (const c of clients) connect(c);
    const connectDeadline = Date.now() + 60_000;
    while (clients.some((c) => c.followed.some((id) => !c.resumed.has(id))) && Date.now() < connectDeadline)
      await sleep(100);
    log(`connected: ${clients.filter((c) => c.ws).length} sockets`);

    const D = opts.durationMs;
    const started = Date.now();
    const killAt = D >= 300_000 ? [0.35, 0.8] : [0.35];
    const quietAt = D >= 300_000 ? [0.2, 0.5, 0.65] : [0.65];
    const quietMs = (forgetSeconds + catchUpSeconds + 3) * 1000;
    const listenKillEveryMs = Math.max(10_000, D / 8);
    let nextListenKill = started + listenKillEveryMs / 2;
    let quietUntil = 0;
    const tickMs = 50;
    const restarts: Promise<void>[] = [];

    while (Date.now() - started < D) {
      const t = (Date.now() - started) / D;
      const now = Date.now();
      if (killAt.length && t >= killAt[0]!) {
        killAt.shift();
        const victim = rnd.pick(replicas.filter((r) => r.alive));
        log(`kill -9 replica ${victim.index} at ${Math.round((now - started) / 1000)} s`);
        counts.replicaKills!++;
        const child = victim.child!;
        victim.alive = false;
        child.kill('SIGKILL');
        restarts.push(
          (async () => {
            await exited(child);
            await sleep(3000);
            await startReplica(victim, opts.databaseUrl, env);
            log(`replica ${victim.index} restarted`);
          })(),
        );
      }
      if (quietAt.length && t >= quietAt[0]!) {
        quietAt.shift();
        quietUntil = now + quietMs;
        counts.quietSpells!++;
        log(`quiet for ${quietMs / 1000} s: every replica forgets its delivery marks`);
      }
      if (now >= nextListenKill) {
        nextListenKill = now + listenKillEveryMs;
        const r = rnd.pick(replicas.filter((x) => x.alive));
        const pid = await listenBackend(opts.databaseUrl, r.child!.pid!).catch(() => null);
        if (pid !== null) {
          await withDb(opts.databaseUrl, (c) => c.query('select pg_terminate_backend($1)', [pid]));
          counts.listenKills!++;
          log(`LISTEN connection of replica ${r.index} terminated`);
        }
      }
      if (now >= quietUntil) {
        // Sends: Poisson-ish, `rate` per second over everyone who is resumed.
        let n = rate * (tickMs / 1000);
        while (n > 0) {
          if (rnd.chance(Math.min(1, n))) {
            const c = rnd.pick(clients);
            if (c.ws) sendOne(c);
          }
          n -= 1;
        }
        // Bursts: everyone following one conversation sends in the same tick, from whatever
        // replicas they are on (the races between replicas that lose messages when delivery
        // is not right: first sight, acks overtaking, gaps).
        if (rnd.chance((rate / 4) * (tickMs / 1000))) {
          const id = rnd.pick(allConversations);
          for (const c of followers.get(id) ?? []) if (c.ws) sendOne(c, id, false);
          counts.bursts!++;
        }
        // Disconnects: each client about every 40 s, reconnecting to another replica.
        if (rnd.chance((clients.length / 40) * (tickMs / 1000))) {
          const c = rnd.pick(clients);
          if (c.ws) {
            counts.reconnects!++;
            c.ws.close();
          }
        }
        // Attachments that failed (replica gone) are retried.
        if (rnd.chance(0.05)) {
          for (const c of clients)
            for (const s of c.pending.values()) if (s.file && now - s.startedAt > 2000) void sendFile(c, s);
        }
      }
      await sleep(tickMs);
    }
    await Promise.all(restarts);
    log(`run over after ${Math.round((Date.now() - started) / 1000)} s; draining`);

    // ------------------------------------------------------------ drain
    const drainDeadline = Date.now() + 90_000;
    for (;;) {
      const unsettled = clients.filter(
        (c) => c.pending.size > 0 || !c.ws || c.followed.some((id) => !c.resumed.has(id)),
      );
      if (unsettled.length === 0 || Date.now() > drainDeadline) break;
      for (const c of unsettled) {
        if (!c.ws && !c.connecting) connect(c);
        for (const s of c.pending.values()) {
          if (Date.now() - s.startedAt < 1500) continue;
          s.startedAt = Date.now();
          if (s.file) void sendFile(c, s);
          else transmit(c, s);
        }
      }
      await sleep(500);
    }
    // Then until every open socket has the conversations' last seqs (bounded).
    const lastSeqs = async () =>
      withDb(opts.databaseUrl, async (db) => {
        const r = await db.query<{ id: string; last_seq: string; last_public: string | null }>(
          `select c.id, c.last_seq,
             (select max(seq) from messages m where m.conversation_id = c.id and not m.private) as last_public
           from conversations c`,
        );
        return new Map(
          r.rows.map((x) => [x.id, { all: Number(x.last_seq), visitor: Number(x.last_public ?? 0) }]),
        );
      });
    const convergeDeadline = Date.now() + 30_000;
    for (;;) {
      const last = await lastSeqs();
      const behind = clients.filter((c) =>
        c.followed.some((id) => {
          const l = last.get(id)!;
          return c.watermark.get(id)! < (c.kind === 'visitor' ? l.visitor : l.all);
        }),
      );
      if (behind.length === 0 || Date.now() > convergeDeadline) break;
      await sleep(500);
    }
    await sleep((catchUpSeconds + 1) * 1000); // anything still in flight lands
    stopping = true;

    for (const r of replicas) {
      const text = await fetch(`${r.base}/metrics`, {
        headers: { authorization: 'Bearer checker-metrics' },
      }).then(
        (res) => res.text(),
        () => '',
      );
      for (const name of [
        'parley_chat_delivery_gap_reads_total',
        'parley_chat_delivery_marks_from_database_total',
        'parley_chat_delivery_marks_forgotten_total',
      ]) {
        const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
        metrics[name] = (metrics[name] ?? 0) + Number(m?.[1] ?? 0);
      }
    }

    // ------------------------------------------------------------ verification
    const rows = await withDb(opts.databaseUrl, async (db) => {
      const m = await db.query<{
        conversation_id: string;
        seq: string;
        private: boolean;
        client_id: string | null;
      }>('select conversation_id, seq, private, client_id from messages order by conversation_id, seq');
      return m.rows.map((x) => ({ ...x, seq: Number(x.seq) }));
    });
    const seqsOf = new Map<string, { seq: number; private: boolean }[]>();
    const byClientId = new Map<string, number[]>();
    for (const m of rows) {
      let list = seqsOf.get(m.conversation_id);
      if (!list) seqsOf.set(m.conversation_id, (list = []));
      list.push({ seq: m.seq, private: m.private });
      if (m.client_id) {
        const key = `${m.conversation_id}/${m.client_id}`;
        byClientId.set(key, [...(byClientId.get(key) ?? []), m.seq]);
      }
    }
    for (const [id, list] of seqsOf) {
      list.forEach((m, i) => {
        if (m.seq !== i + 1) violations.push(`database: ${id} seq ${m.seq} at position ${i + 1}`);
      });
    }
    counts.committed = rows.length;
    const canSee = (c: Client, conversationId: string) =>
      c.kind === 'visitor'
        ? c.followed[0] === conversationId
        : c.admin || [null, c.teamId].includes(conversationTeam.get(conversationId) ?? null);
    const visibleSeqs = (c: Client, conversationId: string) =>
      (seqsOf.get(conversationId) ?? []).filter((m) => c.kind === 'agent' || !m.private).map((m) => m.seq);
    const startedAfter = new Map<string, { seq: number; at: number }[]>();
    for (const c of clients)
      for (const s of c.acked.values()) {
        const list = startedAfter.get(s.conversationId) ?? [];
        list.push({ seq: s.seq, at: s.startedAt });
        startedAfter.set(s.conversationId, list);
      }

    let socketsChecked = 0;
    let deliveries = 0;
    for (const c of clients) {
      for (const e of c.errors) violations.push(`${c.name}: error ${e}`);
      if (c.pending.size) violations.push(`${c.name}: ${c.pending.size} sends never acknowledged`);
      for (const s of c.acked.values()) {
        const found = byClientId.get(`${s.conversationId}/${s.clientId}`) ?? [];
        if (found.length !== 1 || found[0] !== s.seq)
          violations.push(`${c.name}: ack ${s.clientId} seq ${s.seq}, database has ${JSON.stringify(found)}`);
      }
      for (const sock of c.sockets) {
        socketsChecked++;
        for (const [id, got] of sock.received) {
          deliveries += got.length;
          const where = `${sock.id} ${id}`;
          if (!canSee(c, id)) {
            violations.push(`${where}: received ${got.length} messages of a conversation it may not see`);
            continue;
          }
          const visible = visibleSeqs(c, id);
          const visibleSet = new Set(visible);
          const bad = got.filter((s) => !visibleSet.has(s));
          if (bad.length) violations.push(`${where}: received seqs it may not see: ${bad.join(',')}`);
          for (let i = 1; i < got.length; i++)
            if (got[i]! <= got[i - 1]!) {
              violations.push(`${where}: seq ${got[i]} after ${got[i - 1]} (duplicate or reordered)`);
              break;
            }
          const from = sock.resumeFrom.get(id);
          const lo = from !== undefined ? from + 1 : got[0]!;
          const hi = got.at(-1) ?? 0;
          const expected = visible.filter((s) => s >= lo && s <= hi);
          if (expected.length !== got.length || expected.some((s, i) => s !== got[i])) {
            const missing = expected.filter((s) => !got.includes(s));
            violations.push(`${where}: gap: missing ${missing.slice(0, 10).join(',')} within ${lo}..${hi}`);
          }
          if (from === undefined) {
            // Live only: every message whose send started after the socket was ready reached it.
            const owed = (startedAfter.get(id) ?? [])
              .filter((x) => x.at > sock.readyAt && (sock.open || x.seq <= hi))
              .map((x) => x.seq);
            const late = owed.filter((s) => s < lo || (sock.open && s > hi));
            if (late.length)
              violations.push(`${where}: never got ${late.slice(0, 10).join(',')} sent after it was ready`);
          }
        }
        // Followed conversations of a socket open at the end: everything up to the last seq.
        if (sock.open) {
          for (const [id, from] of sock.resumeFrom) {
            const got = new Set(sock.received.get(id) ?? []);
            const missing = visibleSeqs(c, id).filter((s) => s > from && !got.has(s));
            if (missing.length)
              violations.push(`${sock.id} ${id}: open at the end, missing ${missing.slice(0, 10).join(',')}`);
          }
          if (c.kind === 'agent') {
            // Conversations it never resumed but may see, with sends started after it was ready.
            for (const [id, list] of startedAfter) {
              if (sock.resumeFrom.has(id) || !canSee(c, id) || sock.received.has(id)) continue;
              const owed = list.filter((x) => x.at > sock.readyAt).map((x) => x.seq);
              if (owed.length)
                violations.push(`${sock.id} ${id}: got nothing, owed ${owed.slice(0, 10).join(',')}`);
            }
          }
        }
        for (const a of sock.acks) {
          const from = sock.resumeFrom.get(a.conversationId) ?? 0;
          const before = new Set((sock.received.get(a.conversationId) ?? []).slice(0, a.receivedBefore));
          const overtaken = visibleSeqs(c, a.conversationId).filter(
            (s) => s > from && s < a.seq && !before.has(s),
          );
          if (overtaken.length)
            violations.push(
              `${sock.id}: ack ${a.seq} overtook ${overtaken.slice(0, 10).join(',')} of ${a.conversationId}`,
            );
        }
      }
      for (const id of c.followed) {
        const missing = visibleSeqs(c, id).filter((s) => !c.have.get(id)!.has(s));
        if (missing.length)
          violations.push(`${c.name} ${id}: never received ${missing.slice(0, 10).join(',')}`);
      }
    }
    counts.acked = clients.reduce((n, c) => n + c.acked.size, 0);
    counts.sockets = socketsChecked;
    counts.deliveriesChecked = deliveries;
    Object.assign(counts, metrics);
  } finally {
    stopping = true;
    for (const c of clients) c.ws?.terminate();
    for (const r of replicas) r.child?.kill('SIGTERM');
    await Promise.all(replicas.map((r) => exited(r.child)));
  }
  return { seed: opts.seed, violations, counts };
}
