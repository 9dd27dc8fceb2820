import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, signIn } from '../support/app.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'parley-backup-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const t = await createTestApp({ BACKUP_DIR: dir, BACKUP_RPO_HOURS: '6' });

describe('GET /api/v1/backups (admin console)', () => {
  it('shows admins the last backup, the last verified restore and the RPO alert', async () => {
    const admin = await signIn(t, 'admin');
    const before = await t.app.inject({
      method: 'GET',
      url: '/api/v1/backups',
      headers: { cookie: admin.cookie },
    });
    expect(before.statusCode).toBe(200);
    expect(before.json()).toMatchObject({ rpoHours: 6, rpoExceeded: true, newestVerifiedAt: null, runs: [] });

    expect(await t.container.scheduler.runNow('backup')).toBe(true);
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/v1/backups',
      headers: { cookie: admin.cookie },
    });
    const body = after.json<{
      rpoExceeded: boolean;
      runs: { kind: string; outcome: string; restoreMs: number | null }[];
    }>();
    expect(body.rpoExceeded).toBe(false);
    expect(body.runs.map((r) => [r.kind, r.outcome])).toEqual([
      ['verify', 'success'],
      ['create', 'success'],
    ]);
    expect(body.runs[0]!.restoreMs).toBeGreaterThan(0);
  });

  it('is refused to agents and to anonymous requests', async () => {
    const agent = await signIn(t, 'agent');
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/v1/backups', headers: { cookie: agent.cookie } }))
        .statusCode,
    ).toBe(403);
    expect((await t.app.inject({ method: 'GET', url: '/api/v1/backups' })).statusCode).toBe(401);
  });
});
