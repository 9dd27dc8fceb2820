/* global process, console, fetch, AbortSignal -- runs under Node.js in the Parley image */
/* eslint-disable no-console -- prints PASS/FAIL lines for `helm test` */
// `helm test` for a Parley release (runs in the Parley image, see helm/parley/templates/tests):
// 1. GET /readyz through the Service answers 200;
// 2. a WebSocket handshake through the Service is answered 101 Switching Protocols;
// 3. a database round trip: write a row to a temporary table, read it back.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import pg from 'pg';

const base = process.env.PARLEY_TEST_URL;
const wsPath = process.env.PARLEY_TEST_WS_PATH ?? '/api/v1/widget/ws';
let failed = false;
const report = (ok, what, detail) => {
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${what}: ${detail}`);
  if (!ok) failed = true;
};

try {
  const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) });
  report(res.status === 200, 'readyz', `${res.status} ${await res.text()}`);
} catch (err) {
  report(false, 'readyz', err.message);
}

await new Promise((resolve) => {
  const req = http.request(`${base}${wsPath}`, {
    headers: {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    },
    timeout: 10_000,
  });
  req.on('upgrade', (res, socket) => {
    report(res.statusCode === 101, 'websocket handshake', `${res.statusCode} on ${wsPath}`);
    socket.destroy();
    resolve();
  });
  req.on('response', (res) => {
    report(
      false,
      'websocket handshake',
      `${res.statusCode} on ${wsPath} (no upgrade; check tests.websocketPath)`,
    );
    res.resume();
    resolve();
  });
  req.on('timeout', () => req.destroy(new Error('timed out')));
  req.on('error', (err) => {
    report(false, 'websocket handshake', err.message);
    resolve();
  });
  req.end();
});

const client = new pg.Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10_000 });
try {
  await client.connect();
  const token = randomBytes(8).toString('hex');
  await client.query('create temporary table parley_helm_test (token text)');
  await client.query('insert into parley_helm_test (token) values ($1)', [token]);
  const { rows } = await client.query('select token from parley_helm_test');
  report(rows[0]?.token === token, 'database round trip', 'wrote and read back a row');
} catch (err) {
  report(false, 'database round trip', err.message);
} finally {
  await client.end().catch(() => {});
}

process.exit(failed ? 1 : 0);
