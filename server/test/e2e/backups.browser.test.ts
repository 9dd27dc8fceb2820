// The admin console's Backups page in a real browser, against a real `parley serve` and a
// backup made and verified by the real CLI.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const consoleDist = path.join(root, 'web/console/dist');
const CHROMIUM = '/usr/bin/chromium';
const backupDir = mkdtempSync(path.join(tmpdir(), 'parley-backups-page-'));
let server: ServerProcess | undefined;
let browser: Browser | undefined;
let baseUrl: string;
let env: NodeJS.ProcessEnv;

function cli(args: string[], input?: string): string {
  const r = spawnSync(process.execPath, [path.join(root, 'server/src/cli/main.ts'), ...args], {
    env,
    input,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`parley ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  if (!existsSync(path.join(consoleDist, 'index.html'))) {
    throw new Error('web/console/dist is missing: run "make build" (make test does it) first');
  }
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const database = await createTestDatabase();
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    DATABASE_URL: database.url,
    PARLEY_LOG_LEVEL: 'warn',
    PARLEY_CONSOLE_DIR: consoleDist,
    PARLEY_INITIAL_ADMIN_PASSWORD: 'initial-admin-password-1',
    BACKUP_DIR: backupDir,
    BACKUP_CRON: 'off',
  };
  cli(['admin', 'create', '--username', 'ops', '--password-stdin'], 'ops-password-12345\n');
  cli(['backup', 'create']);
  cli(['backup', 'verify', '--latest']);
  const launched = chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  // (Readiness is checked, not assumed: a start that fails stops here with the server's output.)
  const { PATH: _path, HOME: _home, DATABASE_URL: _db, ...serverEnv } = env as Record<string, string>;
  server = await startServer(database.url, (port) => ({
    ...serverEnv,
    PARLEY_PUBLIC_URL: `http://127.0.0.1:${port}`,
  }));
  baseUrl = server.base;
  browser = await launched;
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(backupDir, { recursive: true, force: true });
});

describe('Backups page', () => {
  it('shows an admin the newest verified backup, the measured restore time and the history', async () => {
    const context = await browser!.newContext({ locale: 'en' });
    const login = await context.request.post(`${baseUrl}/api/v1/auth/login`, {
      data: { username: 'ops', password: 'ops-password-12345' },
    });
    expect(login.status()).toBe(200);
    const page = await context.newPage();
    page.setDefaultTimeout(5000);
    await page.addInitScript(() => localStorage.setItem('parley.locale', 'en'));
    await page.goto(`${baseUrl}/admin/backups`);
    await page.locator('[data-test="nav-backups"]').waitFor();
    const table = page.locator('[data-test="backup-runs"]');
    await table.locator('tbody tr').nth(1).waitFor();
    expect(await table.locator('tbody tr').count()).toBe(2);
    expect(await page.locator('[data-test="rpo-alert"]').count()).toBe(0);
    const newest = await page.locator('[data-test="newest-verified"]').innerText();
    expect(newest).not.toBe('—');
    expect(await table.innerText()).toMatch(/parley-\d{8}T\d{9}Z-[0-9a-f]{4}\.parley-backup/);
    await context.close();
  }, 60_000);
});
