// `parley migrate` waits for a database that is still starting (the chart's bundled PostgreSQL on a
// first install, a Compose service, a restart): it retries with backoff up to
// PARLEY_MIGRATE_WAIT_SECONDS and says why, instead of failing at once with a stack trace.
// The database "appears" 20 s late: a TCP proxy in front of the local PostgreSQL starts then.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/platform/embedded-postgres.ts';
import { createEmptyDatabase } from '../support/db.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

function parleyMigrate(databaseUrl: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['server/src/cli/main.ts', 'migrate'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, PARLEY_ENV_FILE: '/nonexistent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return { done, stderr: () => stderr };
}

function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

describe('parley migrate waits for the database', () => {
  it('succeeds against a database that appears after 20 s, saying why it waits', async () => {
    const db = await createEmptyDatabase();
    const target = new URL(db.url);
    const port = await freePort();
    const proxy = new TcpProxy(port, { host: target.hostname, port: Number(target.port || 5432) });
    const started = Date.now();
    const run = parleyMigrate(viaPort(db.url, port));
    // The first refusals are reported before the database comes.
    const deadline = Date.now() + 10_000;
    while (!run.stderr().includes('database not reachable yet') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(run.stderr()).toContain('database not reachable yet: connection refused');
    await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - started))));
    await proxy.start();
    try {
      const result = await run.done;
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/applied \d+ migration\(s\); schema is current/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(20_000);
      expect(result.stderr).toMatch(
        /retrying in \d+ s \(waited \d+ s of 300 s, PARLEY_MIGRATE_WAIT_SECONDS\)/,
      );
      expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  it('gives up after PARLEY_MIGRATE_WAIT_SECONDS with one clear line, no stack trace', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await parleyMigrate(`postgres://parley@127.0.0.1:${port}/parley`, {
      PARLEY_MIGRATE_WAIT_SECONDS: '3',
    }).done;
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.stderr).toContain(
      'parley migrate: database not reachable after waiting up to 3 s: connection refused',
    );
    expect(result.stderr).not.toMatch(/^\s+at /m);
  }, 30_000);
});
