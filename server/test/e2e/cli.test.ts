// The `parley` command against a real database.
import { describe, expect, it } from 'vitest';
import { createEmptyDatabase, createTestDatabase } from '../support/db.ts';
import { createTestApp, httpClient } from '../support/app.ts';
import { PROCESS_TEST_MS, runParley } from '../support/process.ts';

function cookieOf(setCookie: string | string[] | undefined): string {
  const raw = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  if (!raw) throw new Error('no session cookie was set');
  return raw.split(';')[0]!;
}

async function run(args: string[], env: Record<string, string>) {
  const p = runParley(args, env);
  const { code } = await p.exited();
  return { code, out: p.output() };
}

describe('parley CLI', { timeout: PROCESS_TEST_MS }, () => {
  it('migrate --check fails on an empty database, migrate applies, then --status and --check pass', async () => {
    const db = await createEmptyDatabase();
    const env = { DATABASE_URL: db.url };
    const before = await run(['migrate', '--check'], env);
    expect(before.code).toBe(3);
    expect(before.out).toMatch(/schema is behind: \d+ pending/);
    const applied = await run(['migrate'], env);
    expect(applied.code).toBe(0);
    expect(applied.out).toMatch(/applied 0001_foundation.sql/);
    const status = await run(['migrate', '--status'], env);
    expect(status.out).toMatch(/applied\s+0001_foundation.sql/);
    expect(status.out).toMatch(/0 pending/);
    expect((await run(['migrate', '--check'], env)).code).toBe(0);
  });

  it('doctor prints every check with a verdict, and fails with a fix when the database is unreachable', async () => {
    const db = await createTestDatabase();
    const ok = await run(['doctor'], { DATABASE_URL: db.url });
    for (const name of [
      'configuration',
      'node runtime',
      'data directory',
      'disk space',
      'database',
      'postgres version',
      'migrations',
      'pg_dump',
      'pg_restore',
      'audit anchoring',
    ]) {
      expect(ok.out).toMatch(new RegExp(`^(PASS|WARN|FAIL)\\s+${name}`, 'm'));
    }
    expect(ok.out).toMatch(/^PASS\s+database\s+reachable/m);

    const down = await run(['doctor', '--json'], {
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      DATABASE_CONNECT_TIMEOUT_MS: '500',
    });
    expect(down.code).toBe(1);
    const report = JSON.parse(down.out.slice(down.out.indexOf('{')));
    const database = report.checks.find((c: { name: string }) => c.name === 'database');
    expect(database).toMatchObject({ verdict: 'fail', hint: expect.stringMatching(/DATABASE_URL/) });
    expect(database.detail).toMatch(/connection refused/);
  });

  it('doctor checks the attachment directory when attachments go to a volume', async () => {
    const db = await createTestDatabase();
    const bad = await run(['doctor'], {
      DATABASE_URL: db.url,
      ATTACHMENT_STORAGE: 'volume',
      // Below a regular file: never creatable (a permission check would not do as root).
      ATTACHMENT_DIR: `${import.meta.filename}/attachments`,
    });
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^FAIL\s+attachment directory\s+\S+cli\.test\.ts\/attachments is not writable/m);
    const plain = await run(['doctor'], { DATABASE_URL: db.url });
    expect(plain.out).not.toMatch(/attachment directory/);
  });

  it('doctor names a bad setting', async () => {
    const res = await run(['doctor'], { PARLEY_LOG_LEVEL: 'loud' });
    expect(res.code).toBe(1);
    expect(res.out).toMatch(/FAIL\s+configuration\s+PARLEY_LOG_LEVEL: expected one of/);
  });

  it('admin create makes an admin that can sign in, and refuses a taken name', async () => {
    const db = await createTestDatabase();
    const res = await run(['admin', 'create', '--username', 'ops-lead'], { DATABASE_URL: db.url });
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/created admin "ops-lead"/);
    const oneTime = /one-time password: ([A-Za-z0-9]{20})/.exec(res.out)?.[1];
    expect(oneTime).toBeDefined();
    const again = await run(['admin', 'create', '--username', 'ops-lead'], { DATABASE_URL: db.url });
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/"ops-lead" is taken/);

    // Signing in, on the app over the database the command wrote: with the one-time password,
    // which must be changed first; then with the new one, as an admin.
    const t = await createTestApp({}, { database: db });
    const http = httpClient(t);
    const first = await http('POST', '/api/v1/auth/login', {
      body: { username: 'ops-lead', password: oneTime },
    });
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toMatchObject({
      user: { username: 'ops-lead', role: 'admin', mustChangePassword: true },
    });
    const cookie = cookieOf(first.headers['set-cookie']);
    const changed = await http('POST', '/api/v1/auth/password', {
      cookie,
      body: { currentPassword: oneTime, newPassword: 'ops-lead-new-password-2026' },
    });
    expect(changed.statusCode, changed.body).toBeLessThan(300);
    const second = await http('POST', '/api/v1/auth/login', {
      body: { username: 'ops-lead', password: 'ops-lead-new-password-2026' },
    });
    expect(second.statusCode, second.body).toBe(200);
    expect(second.json()).toMatchObject({ user: { role: 'admin', mustChangePassword: false } });
    // An admin-only page answers: the account is an admin in fact, not only in name.
    const adminOnly = await http('GET', '/api/v1/security/settings', {
      cookie: cookieOf(second.headers['set-cookie']),
    });
    expect(adminOnly.statusCode, adminOnly.body).toBe(200);
  });

  it('unknown commands print the usage and exit 2', async () => {
    const res = await run(['frobnicate'], {});
    expect(res.code).toBe(2);
    expect(res.out).toMatch(/unknown command "frobnicate"/);
    expect(res.out).toMatch(/Usage: parley <command>/);
  });
});
