// Load-generator process of scripts/bench/chat-load.ts (started by it with an IPC channel; not
// meant to be run by hand). It holds a share of the visitor and agent WebSocket clients, speaks
// the real protocol (server/src/realtime/events.ts), sends on a schedule (open loop) and reports
// what it measured. Every wait is bounded; the process exits when the parent says so or dies.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { ServerEvent } from '../../server/src/realtime/events.ts';

// ---------- messages between the orchestrator and this worker ----------

export interface VisitorSpec {
  token: string;
  conversationId: string;
}
export interface AgentSpec {
  cookie: string;
  conversationIds: string[];
}

export type WorkerCommand =
  | {
      cmd: 'init';
      wsBase: string;
      runId: string;
      workerIndex: number;
      visitors: VisitorSpec[];
      agents: AgentSpec[];
      replyRatio: number;
    }
  | {
      cmd: 'connect';
      who: 'visitors' | 'agents';
      /** Share (0–1] of this worker's clients of that kind to connect, among those not connected yet. */
      share: number;
      concurrency: number;
      timeoutMs: number;
    }
  | { cmd: 'run'; phase: string; visitorRate: number; durationMs: number; drainMs: number }
  | { cmd: 'disconnectVisitors' }
  | { cmd: 'agentsSendToAll'; timeoutMs: number }
  | { cmd: 'reconnectVisitors'; startAt: number; concurrency: number; timeoutMs: number }
  | { cmd: 'bare'; url: string; pairs: number; pairOffset: number; inflight: number; durationMs: number }
  | { cmd: 'report' }
  | { cmd: 'exit' };

export interface PhaseStats {
  phase: string;
  worker: number;
  scheduled: number;
  sent: number;
  /** Visitor sends acknowledged before the end of the drain. */
  acked: number;
  agentSent: number;
  agentAcked: number;
  /** Visitor ack latency from the *scheduled* send time (open loop: includes client-side queueing). */
  ackFromScheduled: number[];
  /** Visitor ack latency from the moment the frame was written to the socket. */
  ackFromSend: number[];
  /** Agent reply ack latency, from the moment the visitor message reached the agent. */
  agentAck: number[];
  /** Visitor message → its agent; agent reply → its visitor (from the sender's write). */
  deliverToAgent: number[];
  deliverToVisitor: number[];
  /** Acknowledged messages the other party had not received at the end of the drain. */
  undelivered: number;
  duplicateDeliveries: number;
  errorFrames: Record<string, number>;
  unexpectedCloses: number;
  /** Time the last scheduled send actually went out, relative to the phase start (ms). */
  lastSendLagMs: number;
  firstScheduledAt: number;
  lastAckAt: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export type WorkerEvent =
  | { ev: 'ready' }
  | { ev: 'connected'; ok: number; failed: number; failures: string[]; ms: number }
  | { ev: 'phase'; stats: PhaseStats }
  | { ev: 'disconnected'; closed: number }
  | { ev: 'agentsSent'; sent: number; acked: number; failed: number }
  | {
      ev: 'reconnected';
      ok: number;
      failedHandshakes: number;
      failures: string[];
      resumed: number;
      /** Epoch ms when this worker's last visitor got `resumed`. */
      lastResumedAt: number;
      /** Per visitor: ms from the storm's start to its `resumed`. */
      resumeMs: number[];
      replayed: number;
      /** Messages the agents sent while the visitor was away that its replay did not contain. */
      missed: number;
      gaps: number;
      duplicates: number;
      /** This worker's CPU from the storm's start to its last `resumed`. */
      cpuMs: number;
    }
  | { ev: 'bare'; acks: number; forwards: number; errors: number; ms: number }
  | { ev: 'report'; sent: string[]; acked: string[] }
  | { ev: 'error'; message: string };

// ---------- state ----------

const now = () => performance.timeOrigin + performance.now();

interface Pending {
  scheduledAt: number;
  sentAt: number;
  visitor: boolean;
}

interface Client {
  role: 'visitor' | 'agent';
  ws: WebSocket | null;
  ready: boolean;
  /** visitor: its conversation; agent: unused. */
  conversationId: string;
  token: string;
  cookie: string;
  /** Highest seq seen for the visitor's conversation (ack or message). */
  lastSeq: number;
  /** agent: the conversations assigned to it. */
  conversations: string[];
  /** Reconnect check: seqs and client ids received during replay. */
  replaySeqs: number[];
  replayIds: (string | null)[];
  resumed: boolean;
  resumedAt: number;
}

let wsBase = '';
let runId = '';
let workerIndex = 0;
let replyRatio = 1;
let visitors: Client[] = [];
let agents: Client[] = [];
const pending = new Map<string, Pending>();
const sentIds: string[] = [];
const ackedIds: string[] = [];
/** clientId → who must receive it, for acked messages not yet seen by the other party. */
const awaitingDelivery = new Set<string>();
const deliveredEarly = new Set<string>();
/** Every client id some party here has received from the other party (duplicate detection). */
const deliveredAll = new Set<string>();
/** Messages agents sent while visitors were away (reconnect check). */
const stormMessages = new Map<string, string>(); // conversationId → clientId
let counter = 0;
let replyCredit = 0;
let current: PhaseStats | null = null;
let stormExpectSeqs = false;

function blankStats(phase: string): PhaseStats {
  return {
    phase,
    worker: workerIndex,
    scheduled: 0,
    sent: 0,
    acked: 0,
    agentSent: 0,
    agentAcked: 0,
    ackFromScheduled: [],
    ackFromSend: [],
    agentAck: [],
    deliverToAgent: [],
    deliverToVisitor: [],
    undelivered: 0,
    duplicateDeliveries: 0,
    errorFrames: {},
    unexpectedCloses: 0,
    lastSendLagMs: 0,
    firstScheduledAt: 0,
    lastAckAt: 0,
    cpuUserMs: 0,
    cpuSystemMs: 0,
    loopDelayP99Ms: 0,
    loopDelayMaxMs: 0,
  };
}
// Counters outside a phase (setup, storm) still go somewhere.
let background = blankStats('background');
const stats = () => current ?? background;

function post(event: WorkerEvent) {
  process.send?.(event);
}

function nextClientId(kind: 'v' | 'a'): string {
  counter++;
  return `${runId}-${kind}${workerIndex}-${counter.toString(36)}`;
}

/** Message text carries the clientId and the sender's write time, so any process can time delivery. */
function textOf(clientId: string, sentAt: number) {
  return `b|${clientId}|${sentAt.toFixed(3)}`;
}

function parseText(text: string): { clientId: string; sentAt: number } | null {
  const parts = text.split('|');
  if (parts.length !== 3 || parts[0] !== 'b') return null;
  return { clientId: parts[1]!, sentAt: Number(parts[2]) };
}

function sendFrame(
  c: Client,
  clientId: string,
  scheduledAt: number,
  visitor: boolean,
  conversationId: string,
) {
  const sentAt = now();
  pending.set(clientId, { scheduledAt, sentAt, visitor });
  sentIds.push(clientId);
  c.ws!.send(JSON.stringify({ type: 'send', conversationId, clientId, text: textOf(clientId, sentAt) }));
}

function onAck(clientId: string, seq: number, conversationId: string, c: Client) {
  const p = pending.get(clientId);
  if (!p) return; // a repeated ack (resend) or one from an earlier phase
  pending.delete(clientId);
  ackedIds.push(clientId);
  const t = now();
  const s = stats();
  if (p.visitor) {
    s.acked++;
    s.ackFromScheduled.push(t - p.scheduledAt);
    s.ackFromSend.push(t - p.sentAt);
    c.lastSeq = Math.max(c.lastSeq, seq);
  } else {
    s.agentAcked++;
    s.agentAck.push(t - p.scheduledAt);
  }
  s.lastAckAt = t;
  void conversationId;
  if (deliveredEarly.has(clientId)) deliveredEarly.delete(clientId);
  else if (current) awaitingDelivery.add(clientId);
}

function onDelivered(clientId: string, sentAt: number, toAgent: boolean) {
  const s = stats();
  if (deliveredAll.has(clientId)) {
    s.duplicateDeliveries++;
    return;
  }
  deliveredAll.add(clientId);
  if (awaitingDelivery.has(clientId)) awaitingDelivery.delete(clientId);
  else if (pending.has(clientId)) deliveredEarly.add(clientId);
  else return; // a late delivery of an earlier phase (its drain ended first): not timed
  (toAgent ? s.deliverToAgent : s.deliverToVisitor).push(now() - sentAt);
}

function handleEvent(c: Client, ev: ServerEvent) {
  switch (ev.type) {
    case 'ready':
      c.ready = true;
      return;
    case 'ack':
      onAck(ev.clientId, ev.seq, ev.conversationId, c);
      return;
    case 'error': {
      const s = stats();
      s.errorFrames[ev.code] = (s.errorFrames[ev.code] ?? 0) + 1;
      return;
    }
    case 'resumed':
      c.resumed = true;
      c.resumedAt = Date.now();
      c.lastSeq = Math.max(c.lastSeq, ev.lastSeq);
      return;
    case 'message': {
      const m = ev.message;
      if (c.role === 'visitor') {
        if (m.conversationId !== c.conversationId) return;
        if (!c.resumed) {
          c.replaySeqs.push(m.seq);
          c.replayIds.push(m.clientId);
        }
        c.lastSeq = Math.max(c.lastSeq, m.seq);
        if (m.senderType !== 'agent') return;
        const parsed = parseText(m.text);
        if (parsed && c.resumed && !stormExpectSeqs) onDelivered(parsed.clientId, parsed.sentAt, false);
        return;
      }
      // Agent: answer visitor messages (a share of them, replyRatio).
      if (m.senderType !== 'visitor') return;
      const parsed = parseText(m.text);
      if (!parsed) return;
      onDelivered(parsed.clientId, parsed.sentAt, true);
      if (!current) return;
      replyCredit += replyRatio;
      if (replyCredit < 1) return;
      replyCredit -= 1;
      const id = nextClientId('a');
      current.agentSent++;
      sendFrame(c, id, now(), false, m.conversationId);
      return;
    }
    default:
      return;
  }
}

function openSocket(c: Client): Promise<void> {
  const url = c.role === 'visitor' ? `${wsBase}/api/v1/widget/ws` : `${wsBase}/api/v1/ws`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: c.role === 'agent' ? { cookie: c.cookie } : {},
      perMessageDeflate: false,
    });
    c.ws = ws;
    c.ready = false;
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      ws.terminate();
      reject(new Error(why));
    };
    ws.on('message', (data) => {
      const ev = JSON.parse((data as Buffer).toString('utf8')) as ServerEvent;
      handleEvent(c, ev);
      if (ev.type === 'ready' && !settled) {
        settled = true;
        resolve();
      }
    });
    ws.once('open', () => {
      const hello: Record<string, unknown> = { type: 'hello' };
      if (c.role === 'visitor') {
        hello.token = c.token;
        if (c.lastSeq > 0 || stormExpectSeqs)
          hello.resume = [{ conversationId: c.conversationId, lastSeq: c.lastSeq }];
      }
      ws.send(JSON.stringify(hello));
    });
    ws.once('unexpected-response', (_req, res) => fail(`upgrade refused: ${res.statusCode}`));
    ws.once('error', (err) => fail(err.message));
    ws.on('close', (code) => {
      if (!settled) fail(`closed before ready: ${code}`);
      else if (c.ws === ws && code !== 1000 && code !== 1005) stats().unexpectedCloses++;
      if (c.ws === ws) c.ready = false;
    });
  });
}

async function connectAll(clients: Client[], concurrency: number, timeoutMs: number) {
  const started = Date.now();
  let ok = 0;
  let failed = 0;
  const failures: string[] = [];
  let next = 0;
  const deadline = Date.now() + timeoutMs;
  async function lane() {
    while (next < clients.length && Date.now() < deadline) {
      const c = clients[next++]!;
      try {
        await Promise.race([
          openSocket(c),
          new Promise((_, reject) => setTimeout(() => reject(new Error('handshake timeout')), 15_000)),
        ]);
        ok++;
      } catch (err) {
        failed++;
        if (failures.length < 5) failures.push((err as Error).message);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  failed += clients.length - ok - failed;
  return { ok, failed, failures, ms: Date.now() - started };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Open loop: message k is due at start + k/rate, whatever happened to earlier ones. */
async function runPhase(phase: string, visitorRate: number, durationMs: number, drainMs: number) {
  const s = blankStats(phase);
  current = s;
  awaitingDelivery.clear();
  deliveredEarly.clear();
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const live = visitors.filter((v) => v.ready);
  const total = Math.floor((visitorRate * durationMs) / 1000);
  const interval = total > 0 ? durationMs / total : 0;
  const start = now() + 20;
  s.firstScheduledAt = start;
  let k = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const t = now();
      while (k < total && start + k * interval <= t) {
        const c = live[k % live.length];
        const scheduledAt = start + k * interval;
        k++;
        s.scheduled++;
        if (!c?.ws || !c.ready) continue; // counted as scheduled, never sent
        s.sent++;
        sendFrame(c, nextClientId('v'), scheduledAt, true, c.conversationId);
        s.lastSendLagMs = now() - scheduledAt;
      }
      if (k >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(2, start + k * interval - now())));
    };
    tick();
  });
  // Drain: wait until every send of this phase is acked and delivered, bounded.
  const deadline = Date.now() + drainMs;
  while (Date.now() < deadline) {
    const open = [...pending.values()].length;
    if (open === 0 && awaitingDelivery.size === 0) break;
    await sleep(20);
  }
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  s.cpuUserMs = cpu.user / 1000;
  s.cpuSystemMs = cpu.system / 1000;
  s.loopDelayP99Ms = loop.percentile(99) / 1e6;
  s.loopDelayMaxMs = loop.max / 1e6;
  s.undelivered = awaitingDelivery.size;
  current = null;
  // Sends still unacknowledged are left in `pending` and in `sentIds`: the database check
  // classifies them (persisted without ack, or not persisted).
  return s;
}

async function agentsSendToAll(timeoutMs: number) {
  // Each agent writes once to each of its conversations while the visitors are away.
  let sent = 0;
  const deadline = Date.now() + timeoutMs;
  for (const a of agents) {
    for (const conversationId of a.conversations) {
      if (!a.ws || !a.ready) continue;
      const id = nextClientId('a');
      stormMessages.set(conversationId, id);
      sendFrame(a, id, now(), false, conversationId);
      sent++;
    }
  }
  while (Date.now() < deadline && [...stormMessages.values()].some((id) => pending.has(id))) await sleep(20);
  const failed = [...stormMessages.values()].filter((id) => pending.has(id)).length;
  return { sent, acked: sent - failed, failed };
}

async function reconnectVisitors(startAt: number, concurrency: number, timeoutMs: number) {
  for (const v of visitors) {
    v.replaySeqs = [];
    v.replayIds = [];
    v.resumed = false;
  }
  const before = new Map(visitors.map((v) => [v, v.lastSeq]));
  stormExpectSeqs = true;
  await sleep(Math.max(0, startAt - Date.now()));
  const cpu0 = process.cpuUsage();
  const r = await connectAll(visitors, concurrency, timeoutMs);
  // Wait for every replay to finish.
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && visitors.some((v) => v.ready && !v.resumed)) await sleep(5);
  const cpu = process.cpuUsage(cpu0);
  let lastResumedAt = 0;
  let replayed = 0;
  let missed = 0;
  let gaps = 0;
  let duplicates = 0;
  const resumeMs: number[] = [];
  for (const v of visitors) {
    if (!v.resumed) continue;
    lastResumedAt = Math.max(lastResumedAt, v.resumedAt);
    resumeMs.push(v.resumedAt - startAt);
    replayed += v.replaySeqs.length;
    const from = before.get(v)!;
    const seqs = v.replaySeqs;
    if (new Set(seqs).size !== seqs.length) duplicates++;
    for (let i = 0; i < seqs.length; i++) if (seqs[i] !== from + 1 + i) gaps++;
    const expected = stormMessages.get(v.conversationId);
    if (expected && !v.replayIds.includes(expected)) missed++;
  }
  stormExpectSeqs = false;
  return {
    ok: r.ok,
    failedHandshakes: r.failed,
    failures: r.failures,
    resumed: visitors.filter((v) => v.resumed).length,
    lastResumedAt,
    resumeMs,
    replayed,
    missed,
    gaps,
    duplicates,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

async function bare(url: string, pairs: number, pairOffset: number, inflight: number, durationMs: number) {
  // The bare loop: socket 2i sends to socket 2i+1 through the tiny server, `inflight` at a time.
  let acks = 0;
  let forwards = 0;
  let errors = 0;
  const sockets: WebSocket[] = [];
  const open = (id: number) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`${url}/?id=${id}`, { perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  for (let i = 0; i < pairs; i++) {
    const id = (pairOffset + i) * 2;
    sockets.push(await open(id), await open(id + 1));
  }
  const start = Date.now();
  const stopAt = start + durationMs;
  let outstanding = 0;
  await new Promise<void>((resolve) => {
    for (let i = 0; i < pairs; i++) {
      const a = sockets[2 * i]!;
      const b = sockets[2 * i + 1]!;
      const to = (pairOffset + i) * 2 + 1;
      let n = 0;
      const sendOne = () => {
        if (Date.now() >= stopAt) {
          if (outstanding === 0) resolve();
          return;
        }
        outstanding++;
        a.send(JSON.stringify({ to, cid: `${workerIndex}-${i}-${n++}`, body: 'hello from the bare loop' }));
      };
      a.on('message', (data) => {
        const m = JSON.parse((data as Buffer).toString('utf8')) as { ack?: string; error?: string };
        outstanding--;
        if (m.ack) acks++;
        else errors++;
        sendOne();
      });
      b.on('message', () => forwards++);
      for (let j = 0; j < inflight; j++) sendOne();
    }
    setTimeout(resolve, durationMs + 10_000);
  });
  const ms = Date.now() - start;
  await sleep(200); // last forwards
  for (const s of sockets) s.terminate();
  return { acks, forwards, errors, ms };
}

async function handle(cmd: WorkerCommand) {
  switch (cmd.cmd) {
    case 'init': {
      wsBase = cmd.wsBase;
      runId = cmd.runId;
      workerIndex = cmd.workerIndex;
      replyRatio = cmd.replyRatio;
      const blank = () => ({
        ws: null,
        ready: false,
        lastSeq: 0,
        replaySeqs: [],
        replayIds: [],
        resumed: true,
        resumedAt: 0,
      });
      visitors = cmd.visitors.map((v) => ({
        ...blank(),
        role: 'visitor' as const,
        conversationId: v.conversationId,
        conversations: [],
        token: v.token,
        cookie: '',
      }));
      agents = cmd.agents.map((a) => ({
        ...blank(),
        role: 'agent' as const,
        conversationId: '',
        conversations: a.conversationIds,
        token: '',
        cookie: a.cookie,
      }));
      return post({ ev: 'ready' });
    }
    case 'connect': {
      const all = cmd.who === 'visitors' ? visitors : agents;
      const todo = all.filter((c) => !c.ready).slice(0, Math.ceil(all.length * cmd.share));
      const r = await connectAll(todo, cmd.concurrency, cmd.timeoutMs);
      return post({ ev: 'connected', ...r });
    }
    case 'run': {
      background = blankStats('background');
      const s = await runPhase(cmd.phase, cmd.visitorRate, cmd.durationMs, cmd.drainMs);
      return post({ ev: 'phase', stats: s });
    }
    case 'disconnectVisitors': {
      let closed = 0;
      await Promise.all(
        visitors.map(
          (v) =>
            new Promise<void>((resolve) => {
              const ws = v.ws;
              v.ready = false;
              if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
              const t = setTimeout(() => (ws.terminate(), resolve()), 5000);
              ws.once('close', () => (clearTimeout(t), closed++, resolve()));
              ws.close(1000);
            }),
        ),
      );
      return post({ ev: 'disconnected', closed });
    }
    case 'agentsSendToAll':
      return post({ ev: 'agentsSent', ...(await agentsSendToAll(cmd.timeoutMs)) });
    case 'reconnectVisitors':
      return post({
        ev: 'reconnected',
        ...(await reconnectVisitors(cmd.startAt, cmd.concurrency, cmd.timeoutMs)),
      });
    case 'bare':
      return post({
        ev: 'bare',
        ...(await bare(cmd.url, cmd.pairs, cmd.pairOffset, cmd.inflight, cmd.durationMs)),
      });
    case 'report':
      return post({ ev: 'report', sent: sentIds, acked: ackedIds });
    case 'exit':
      for (const c of [...visitors, ...agents]) c.ws?.terminate();
      setTimeout(() => process.exit(0), 100);
      return;
  }
}

process.on('message', (cmd: WorkerCommand) => {
  handle(cmd).catch((err: unknown) => post({ ev: 'error', message: (err as Error).stack ?? String(err) }));
});
// The orchestrator gone (killed, crashed): nothing left to do.
process.on('disconnect', () => process.exit(0));
