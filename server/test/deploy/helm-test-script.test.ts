// deploy/helm-test.mjs is what `helm test` runs in the Parley image. Here it runs against a real
// Parley server process and the local PostgreSQL: three PASS lines and exit 0; what cannot be
// reached is reported and fails.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const SCRIPT = path.join(ROOT, 'deploy/helm-test.mjs');

function helmTest(env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 },
      (err, stdout) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
}

let server: ServerProcess;
let databaseUrl: string;
beforeAll(async () => {
  databaseUrl = (await createTestDatabase()).url;
  server = await startServer(databaseUrl);
}, 60_000);
afterAll(async () => server?.stop());

describe('helm test script', () => {
  it('passes readiness, the WebSocket handshake and the database round trip', async () => {
    const run = await helmTest({
      PARLEY_TEST_URL: server.base,
      PARLEY_TEST_WS_PATH: '/api/v1/widget/ws',
      DATABASE_URL: databaseUrl,
    });
    expect(run.stdout).toContain('PASS  readyz: 200');
    expect(run.stdout).toContain('PASS  websocket handshake: 101 on /api/v1/widget/ws');
    expect(run.stdout).toContain('PASS  database round trip');
    expect(run.code).toBe(0);
  });

  it('fails, naming each check, when Parley and the database cannot be reached', async () => {
    const run = await helmTest({
      PARLEY_TEST_URL: 'http://127.0.0.1:1',
      PARLEY_TEST_WS_PATH: '/api/v1/widget/ws',
      DATABASE_URL: 'postgres://parley:wrong@127.0.0.1:1/parley',
    });
    expect(run.stdout).toContain('FAIL  readyz');
    expect(run.stdout).toContain('FAIL  websocket handshake');
    expect(run.stdout).toContain('FAIL  database round trip');
    expect(run.code).toBe(1);
  });
});
