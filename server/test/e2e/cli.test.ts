// The `parley` command against a real database.
import { describe, expect, it } from 'vitest';
import { createEmptyDatabase, createTestDatabase } from '../support/db.ts';
import { runParley } from '../support/process.ts';

async function run(args: string[], env: Record<string, string>) {
  const p = runParley(args, env);
  const { code } = await p.exited();
  return { code, out: p.output() };
}

describe('parley CLI', () => {
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
    expect(res.out).toMatch(/one-time password: [A-Za-z0-9]{20}/);
    const again = await run(['admin', 'create', '--username', 'ops-lead'], { DATABASE_URL: db.url });
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/"ops-lead" is taken/);
  });

  it('unknown commands print the usage and exit 2', async () => {
    const res = await run(['frobnicate'], {});
    expect(res.code).toBe(2);
    expect(res.out).toMatch(/unknown command "frobnicate"/);
    expect(res.out).toMatch(/Usage: parley <command>/);
  });
});
