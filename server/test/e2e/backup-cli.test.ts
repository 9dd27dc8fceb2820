// `parley backup …` as an operator runs it: real processes, real files, exit codes and messages.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmptyDatabase, createTestDatabase } from '../support/db.ts';
import { PROCESS_TEST_MS, runParley } from '../support/process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-backup-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], env: Record<string, string>) {
  const p = runParley(args, { PARLEY_LOG_LEVEL: 'warn', BACKUP_DIR: dir, ...env });
  const { code } = await p.exited();
  return { code, out: p.output() };
}

describe('parley backup (CLI)', { timeout: PROCESS_TEST_MS }, () => {
  it('create → list → verify → restore, with a summary line each, and clear errors', async () => {
    const source = await createTestDatabase();
    const env = { DATABASE_URL: source.url };

    const created = await run(['backup', 'create'], env);
    expect(created.code).toBe(0);
    const line =
      /backup written: (\S+) \(([\d.]+) MiB, ([\d.]+) s, (\d+) tables, ([\d,]+) rows, NOT encrypted\)/.exec(
        created.out,
      );
    expect(line, created.out).not.toBeNull();
    const archive = line![1]!;

    const listed = await run(['backup', 'list'], env);
    expect(listed.out).toMatch(new RegExp(`plain\\s+not verified\\s+${path.basename(archive)}`));

    const verified = await run(['backup', 'verify', '--latest'], env);
    expect(verified.code).toBe(0);
    expect(verified.out).toMatch(/PASS {2}schema_migrations/);
    expect(verified.out).toMatch(
      /verification PASSED: .*\n {2}restore took [\d.]+ s \(the measured recovery time\)/,
    );

    const target = await createEmptyDatabase();
    const restored = await run(['backup', 'restore', archive, '--target', target.url], env);
    expect(restored.code).toBe(0);
    expect(restored.out).toMatch(/restored .* all matching the manifest/);
    const again = await run(['backup', 'restore', archive, '--target', target.url], env);
    expect(again.code).toBe(1);
    expect(again.out).toMatch(
      /parley backup restore: the target database is not empty .* \[target_not_empty\]/,
    );

    const damaged = path.join(dir, 'damaged.parley-backup');
    const bytes = readFileSync(archive);
    writeFileSync(damaged, bytes.subarray(0, bytes.length - 10));
    const bad = await run(['backup', 'verify', damaged], env);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/the archive is truncated .* \[truncated\]/);
  });

  it('reports a usage error with exit code 2', async () => {
    const r = await run(['backup', 'restore'], {});
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/restore needs an ARCHIVE/);
  });
});
