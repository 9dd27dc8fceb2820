// The key-ring canary: `parley serve` refuses to start, with a message saying what is wrong, when
// PARLEY_ENCRYPTION_KEYS or PARLEY_LOOKUP_KEY are not the keys the database was written with
// (a Secret replaced by another install tool, a restore with other keys), instead of answering
// /readyz 200 and then 500 for every encrypted value. A rotation (new key first, old kept) starts.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { serveAt } from '../support/serve-at.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const key = () => randomBytes(32).toString('base64');

async function startsReady(url: string, env: Record<string, string>) {
  const server = await serveAt(ROOT, url, env);
  const ready = await server.readiness();
  expect(ready?.status, server.output().slice(-3000)).toBe(200);
  await server.stop();
  return server.output();
}

async function refuses(url: string, env: Record<string, string>) {
  const server = await serveAt(ROOT, url, env);
  const ready = await server.readiness();
  await Promise.race([server.exited, new Promise((r) => setTimeout(r, 30_000))]);
  expect(ready?.status ?? 0).not.toBe(200);
  expect(server.exitCode(), server.output().slice(-3000)).toBe(1);
  return server.output();
}

describe('key-ring canary', () => {
  it('refuses to serve with keys that do not open the canary, and starts again with the right ones', async () => {
    const db = await createTestDatabase();
    const original = { PARLEY_ENCRYPTION_KEYS: `k1:${key()}`, PARLEY_LOOKUP_KEY: key() };
    expect(await startsReady(db.url, original)).toContain('key-ring canary written');

    // Another tool generated its own keys (issue 14): no 500 per request, a refusal at start.
    const replaced = await refuses(db.url, {
      PARLEY_ENCRYPTION_KEYS: `k1:${key()}`,
      PARLEY_LOOKUP_KEY: original.PARLEY_LOOKUP_KEY,
    });
    // (The log line is JSON: quotes inside the message come escaped.)
    expect(replaced).toContain(
      "PARLEY_ENCRYPTION_KEYS cannot decrypt this database's key canary (encrypted with key",
    );
    expect(replaced).toContain('Restore the original PARLEY_ENCRYPTION_KEYS');

    // parley doctor says the same, without writing anything.
    const doctor = spawnSync(process.execPath, ['server/src/cli/main.ts', 'doctor', '--json'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        PARLEY_ENV_FILE: '/nonexistent',
        DATABASE_URL: db.url,
        PARLEY_ENCRYPTION_KEYS: `k1:${key()}`,
        PARLEY_LOOKUP_KEY: original.PARLEY_LOOKUP_KEY,
      },
    });
    const report = JSON.parse(doctor.stdout) as {
      checks: { name: string; verdict: string; detail: string }[];
    };
    expect(report.checks.find((c) => c.name === 'key canary')).toMatchObject({
      verdict: 'fail',
      detail: expect.stringContaining('cannot decrypt this database'),
    });

    const lookup = await refuses(db.url, { ...original, PARLEY_LOOKUP_KEY: key() });
    expect(lookup).toContain('PARLEY_LOOKUP_KEY is not the lookup key this database was written with');

    const none = await refuses(db.url, {});
    expect(none).toContain(
      'PARLEY_ENCRYPTION_KEYS and PARLEY_LOOKUP_KEY are not set, but this database holds data encrypted',
    );

    // A rotation in progress (new key first, the old one kept) and the original keys both start.
    await startsReady(db.url, {
      ...original,
      PARLEY_ENCRYPTION_KEYS: `k2:${key()},${original.PARLEY_ENCRYPTION_KEYS}`,
    });
    expect(await startsReady(db.url, original)).not.toContain('cannot decrypt');
  }, 180_000);
});
