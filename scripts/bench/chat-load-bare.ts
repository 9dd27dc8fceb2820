// The bare "insert then forward" loop of scripts/bench/chat-load.ts: the least a chat server
// must do per message — one INSERT (autocommit) on a pool of 16 connections, then an ack to the
// sender and the message to its peer — with no auth, validation, sequencing, fan-out or
// framework. Started by chat-load.ts as a child process; prints its port, exits with its parent.
//
//   node scripts/bench/chat-load-bare.ts <database-url>
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

const databaseUrl = process.argv[2];
if (!databaseUrl) throw new Error('usage: chat-load-bare.ts <database-url>');
const pool = new pg.Pool({ connectionString: databaseUrl, max: 16 });
await pool.query(
  `create table if not exists bench_bare (
     id bigserial primary key, client_id text not null, body text not null,
     created_at timestamptz not null default now())`,
);
const sockets = new Map<number, WebSocket>();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws, request) => {
  const id = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('id'));
  sockets.set(id, ws);
  ws.on('close', () => sockets.delete(id));
  ws.on('message', (data) => {
    const m = JSON.parse((data as Buffer).toString('utf8')) as { to: number; cid: string; body: string };
    pool
      .query<{ id: string }>('insert into bench_bare (client_id, body) values ($1, $2) returning id', [
        m.cid,
        m.body,
      ])
      .then((r) => {
        ws.send(JSON.stringify({ ack: m.cid, id: r.rows[0]!.id }));
        sockets.get(m.to)?.send(JSON.stringify({ from: id, cid: m.cid, body: m.body }));
      })
      .catch((err: unknown) => ws.send(JSON.stringify({ error: String(err) })));
  });
});
wss.on('listening', () => {
  const addr = wss.address();
  process.send?.({ port: typeof addr === 'object' && addr ? addr.port : 0 });
});
process.on('disconnect', () => process.exit(0));
