// `parley serve` with no DATABASE_URL: the embedded PostgreSQL, from first run to kill -9.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requirement } from '../support/environment.ts';
import { getJson, PROCESS_TEST_MS, runParley } from '../support/process.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'parley-embedded-'));
// As root, PostgreSQL runs as the "postgres" user, which must be able to enter the directory.
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function postmasterPid(): number | null {
  const file = path.join(dataDir, 'postgres', 'postmaster.pid');
  if (!existsSync(file)) return null;
  return Number(readFileSync(file, 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const env = { PARLEY_DATA_DIR: dataDir, PARLEY_PORT: '0' };

// Only as root does Parley run PostgreSQL as the "postgres" user. Skipped (visibly) otherwise;
// PARLEY_TEST_REQUIRE_ROOT=1 (.ci/run) makes it fail instead.
const asRoot = requirement({
  switch: 'PARLEY_TEST_REQUIRE_ROOT',
  available: process.getuid?.() === 0,
  missing: 'this test must run as root',
});

describe('embedded PostgreSQL', { timeout: PROCESS_TEST_MS }, () => {
  it('creates the database on first run, says it is embedded, serves, and stops it cleanly', async () => {
    const parley = runParley(['serve'], env);
    const port = await parley.port();
    await parley.waitFor(/Parley is ready/);
    expect(parley.output()).toMatch(/running on the EMBEDDED PostgreSQL.*production must set DATABASE_URL/);
    expect((await getJson(port, '/readyz')).status).toBe(200);
    const password = /Password: (\S+)/.exec(parley.output())?.[1];
    const login = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password }),
    });
    expect(login.status).toBe(200);
    const pgPid = postmasterPid();
    expect(pgPid).not.toBeNull();
    const { code, ms } = await parley.stop('SIGTERM');
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(alive(pgPid!)).toBe(false);
  });

  it('CLI commands use the same embedded database', async () => {
    const status = runParley(['migrate', '--status'], env);
    const { code } = await status.exited();
    expect(code).toBe(0);
    expect(status.output()).toMatch(/applied\s+0001_foundation\.sql/);
    expect(status.output()).toMatch(/0 pending/);
  });

  it('after kill -9, the next start takes over the orphaned PostgreSQL and keeps the data', async () => {
    const first = runParley(['serve'], env);
    await first.waitFor(/Parley is ready/);
    const orphan = postmasterPid();
    await first.stop('SIGKILL');
    expect(alive(orphan!)).toBe(true); // postgres outlived Parley

    const second = runParley(['serve'], env);
    const port = await second.port();
    await second.waitFor(/Parley is ready/);
    expect(second.output()).toMatch(/left running by an earlier Parley/);
    expect(second.output()).not.toContain('Password:'); // same database: the admin exists
    expect(alive(orphan!)).toBe(false);
    expect((await getJson(port, '/readyz')).status).toBe(200);
    expect((await second.stop()).code).toBe(0);
  });

  it.skipIf(asRoot.skip)(
    'as root, refuses a data directory the postgres user cannot reach, saying what to do',
    async () => {
      asRoot.check();
      const hidden = mkdtempSync(path.join(tmpdir(), 'parley-private-')); // mode 0700
      try {
        const parley = runParley(['serve'], { PARLEY_DATA_DIR: path.join(hidden, 'data'), PARLEY_PORT: '0' });
        const { code } = await parley.exited();
        expect(code).toBe(1);
        expect(parley.output()).toMatch(/system user "postgres", which cannot enter .*parley-private-/);
      } finally {
        rmSync(hidden, { recursive: true, force: true });
      }
    },
  );

  it('refuses a data directory it cannot write, saying what to do', async () => {
    const file = path.join(dataDir, 'not-a-directory');
    writeFileSync(file, 'x');
    const parley = runParley(['serve'], { PARLEY_DATA_DIR: path.join(file, 'data'), PARLEY_PORT: '0' });
    const { code } = await parley.exited();
    expect(code).toBe(1);
    expect(parley.output()).toMatch(/is not writable.*Set PARLEY_DATA_DIR/s);
  });
});
