// kill -9 the server while 50 clients send; restart it; the clients resend what was not
// acknowledged. Every acknowledged message must be in the database exactly once, with the id
// and seq its ack named, and nothing may be duplicated — in the database or in what clients saw.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { ServerEvent } from '../../src/realtime/events.ts';
import { createTestDatabase } from '../support/db.ts';
import { TestSocket, isType } from '../support/realtime.ts';
import { postJson, startServer, type ServerProcess } from '../support/server-process.ts';

const CLIENTS = 50;
const database = await createTestDatabase();
const env = {
  PARLEY_WS_FRAMES_PER_SECOND: '1000',
  PARLEY_WS_FRAMES_BURST: '1000',
  PARLEY_WS_IP_FRAMES_PER_SECOND: '100000',
  PARLEY_REALTIME_CATCHUP_SECONDS: '1',
};
let server: ServerProcess = await startServer(database.url, env);
const opened: TestSocket[] = [];
afterAll(async () => {
  for (const s of opened) if (s.isOpen) await s.close();
  await server.stop();
});

type Ack = Extract<ServerEvent, { type: 'ack' }>;

class ChatClient {
  readonly acks = new Map<string, Ack>();
  readonly sent = new Map<string, string>(); // clientId → text
  readonly seenSeqs: number[] = [];
  socket: TestSocket | null = null;
  private counter = 0;
  readonly token: string;
  readonly conversationId: string;
  readonly name: string;
  constructor(token: string, conversationId: string, name: string) {
    this.token = token;
    this.conversationId = conversationId;
    this.name = name;
  }

  async connect(s: ServerProcess) {
    const socket = await TestSocket.open(`${s.wsBase}/api/v1/widget/ws`);
    opened.push(socket);
    this.socket = socket;
    socket.ws.on('message', (data) => {
      const f = JSON.parse((data as Buffer).toString('utf8')) as ServerEvent;
      if (f.type === 'ack') {
        const before = this.acks.get(f.clientId);
        // An ack for a resend must be identical to the first one.
        if (before && (before.messageId !== f.messageId || before.seq !== f.seq)) {
          throw new Error(`different ack for ${f.clientId}`);
        }
        this.acks.set(f.clientId, f);
      }
      if (f.type === 'message') this.seenSeqs.push(f.message.seq);
    });
    // Resume from the highest seq this client knows of (seen as a message or acknowledged).
    const lastSeq = Math.max(0, ...this.seenSeqs, ...[...this.acks.values()].map((a) => a.seq));
    socket.send({
      type: 'hello',
      token: this.token,
      resume: [{ conversationId: this.conversationId, lastSeq }],
    });
    await socket.waitFor(isType('resumed'));
  }

  sendNew() {
    const clientId = `${this.name}-${++this.counter}-${randomUUID().slice(0, 8)}`;
    const text = `${this.name} message ${this.counter}`;
    this.sent.set(clientId, text);
    if (this.socket?.isOpen)
      this.socket.send({ type: 'send', conversationId: this.conversationId, clientId, text });
  }

  unacked(): [string, string][] {
    return [...this.sent].filter(([id]) => !this.acks.has(id));
  }
}

describe('kill -9 under load', () => {
  it('keeps every acknowledged message exactly once and duplicates nothing after resends', async () => {
    const clients: ChatClient[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const session = await postJson(`${server.base}/api/v1/widget/session`, {});
      const token = session.json.token as string;
      const conv = await postJson(
        `${server.base}/api/v1/widget/conversations`,
        {},
        { authorization: `Bearer ${token}` },
      );
      const c = new ChatClient(token, conv.json.id as string, `c${i}`);
      await c.connect(server);
      clients.push(c);
    }

    // Everyone sends every 40 ms; the server is killed mid-stream.
    const pump = setInterval(() => {
      for (const c of clients) c.sendNew();
    }, 40);
    // Kill once a good number of messages were acknowledged (not after a fixed time: on a busy
    // machine the same time may see far fewer acks).
    const acked = () => clients.reduce((n, c) => n + c.acks.size, 0);
    for (const deadline = Date.now() + 30_000; acked() < 150 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await server.kill9();
    clearInterval(pump);
    const ackedBeforeCrash = new Map(
      clients.flatMap((c) => [...c.acks].map(([k, v]) => [k, { ...v }] as const)),
    );
    expect(ackedBeforeCrash.size).toBeGreaterThan(100);
    const unackedAtCrash = clients.reduce((n, c) => n + c.unacked().length, 0);

    server = await startServer(database.url, env);
    // Reconnect with resume, then resend everything not acknowledged (same client ids), plus
    // a few already-acknowledged ones (a client cannot always know the ack was lost).
    await Promise.all(clients.map((c) => c.connect(server)));
    for (const c of clients) {
      for (const [clientId, text] of c.unacked()) {
        c.socket!.send({ type: 'send', conversationId: c.conversationId, clientId, text });
      }
      const someAcked = [...c.acks.keys()].slice(0, 2);
      for (const clientId of someAcked) {
        c.socket!.send({
          type: 'send',
          conversationId: c.conversationId,
          clientId,
          text: c.sent.get(clientId)!,
        });
      }
    }
    const deadline = Date.now() + 20_000;
    while (clients.some((c) => c.unacked().length > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const c of clients) expect(c.unacked()).toEqual([]);

    const db = new pg.Client({ connectionString: database.url });
    await db.connect();
    try {
      const { rows } = await db.query<{
        conversation_id: string;
        client_id: string;
        id: string;
        seq: string;
      }>(`select conversation_id, client_id, id, seq from messages where sender_type = 'visitor'`);
      const byClientId = new Map<string, { id: string; seq: number }[]>();
      for (const r of rows) {
        const list = byClientId.get(r.client_id) ?? [];
        list.push({ id: r.id, seq: Number(r.seq) });
        byClientId.set(r.client_id, list);
      }
      // Every acknowledged message is present, exactly once, with the acknowledged id and seq.
      for (const [clientId, ack] of ackedBeforeCrash) {
        expect(byClientId.get(clientId)).toEqual([{ id: ack.messageId, seq: ack.seq }]);
      }
      // Nothing duplicated, nothing unexpected: one row per client id the clients sent.
      const sentIds = new Set(clients.flatMap((c) => [...c.sent.keys()]));
      for (const [clientId, list] of byClientId) {
        expect(list).toHaveLength(1);
        expect(sentIds.has(clientId)).toBe(true);
      }
      expect(byClientId.size).toBe(sentIds.size);
      // Per conversation, seqs are gap-free.
      const seqs = await db.query<{ conversation_id: string; n: string; max: string }>(
        `select conversation_id, count(*) as n, max(seq) as max from messages group by conversation_id`,
      );
      for (const r of seqs.rows) expect(Number(r.max)).toBe(Number(r.n));
    } finally {
      await db.end();
    }
    // What clients saw: no message twice on any one connection's stream.
    for (const c of clients) {
      const unique = new Set(c.seenSeqs);
      expect(unique.size).toBe(c.seenSeqs.length);
    }
    console.log(
      `kill -9: ${ackedBeforeCrash.size} acknowledged before the crash, ${unackedAtCrash} unacknowledged resent`,
    );
  }, 90_000);
});
