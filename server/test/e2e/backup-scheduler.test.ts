// Two real `parley serve` processes on one database, backing up every 2 seconds into a shared
// directory: every scheduled slot produces exactly one backup (not one per process).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { eventually, PROCESS_TEST_MS, runParley } from '../support/process.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-backup-e2e-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scheduled backup with two Parley processes', { timeout: PROCESS_TEST_MS }, () => {
  it('runs each slot once: one verified backup per slot, whichever process ran it', async () => {
    const db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url,
      PARLEY_PORT: '0',
      PARLEY_INITIAL_ADMIN_PASSWORD: 'initial-password-123',
      BACKUP_DIR: dir,
      BACKUP_CRON: '*/2 * * * * *',
      PARLEY_TIMEZONE: 'UTC',
      // A slot still verifying at SIGTERM finishes (and drops its scratch database) before exit.
      PARLEY_SHUTDOWN_TIMEOUT_SECONDS: '60',
    };
    const a = runParley(['serve'], env);
    const b = runParley(['serve'], env);
    await Promise.all([a.waitFor(/Parley is ready/), b.waitFor(/Parley is ready/)]);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await eventually(
        async () =>
          (
            await client.query<{ n: number }>(
              `select count(*)::int as n from job_runs where job = 'backup' and outcome = 'success'`,
            )
          ).rows[0]!.n,
        (n) => n >= 2,
        30_000,
      );
      await Promise.all([a.stop(), b.stop()]);
      const runs = await client.query<{
        slot: Date;
        replica: string;
        outcome: string;
        detail: { verification?: string };
      }>(`select slot, replica, outcome, detail from job_runs where job = 'backup' order by slot`);
      const archives = readdirSync(dir).filter((f) => f.endsWith('.parley-backup'));
      expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
      expect(runs.rows.every((r) => r.outcome === 'success' && r.detail.verification === 'passed')).toBe(
        true,
      );
      // One backup per claimed slot: had both processes run a slot, there would be twice as many.
      const creates = await client.query<{ archive: string; replica: string }>(
        `select archive, replica from backup_runs where kind = 'create' and outcome = 'success' order by archive_created_at`,
      );
      expect(creates.rows).toHaveLength(runs.rows.length);
      expect(new Set(creates.rows.map((r) => r.archive)).size).toBe(runs.rows.length);
      // Retention (all archives are from the same day) kept only the newest verified one.
      expect(archives).toEqual([path.basename(creates.rows.at(-1)!.archive)]);
    } finally {
      await client.end();
    }
  });
});
