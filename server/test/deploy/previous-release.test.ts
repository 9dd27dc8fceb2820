// Rollback across migrations (expand/contract, issue 14): the PREVIOUS RELEASE's code, checked out
// from git (the last line of deploy/releases.txt), runs on the schema this code migrates to. That
// is what a rolling upgrade (old pods serve while the new migrator runs) and `helm rollback` (old
// pods and the old migrator Job come back) need. A deliberately incompatible migration is refused
// by that old code with the message. Needs the git history: without it this test FAILS and says
// why (CI runs on a full clone).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate } from '../../src/platform/db/migrator.ts';
import { createEmptyDatabase } from '../support/db.ts';
import { serveAt } from '../support/serve-at.ts';
import { latestRelease } from '../../../scripts/build-info.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const git = (...args: string[]) =>
  execFileSync('git', args, {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 << 20,
  });

let tmp: string;
let previous: string; // the previous release's tree
let release: { version: string; commit: string };

/** package-lock.json without the root package's own version, which every release changes. */
function dependencyLock(text: string): string {
  const lock = JSON.parse(text) as { version?: string; packages?: Record<string, { version?: string }> };
  delete lock.version;
  if (lock.packages?.['']) delete lock.packages[''].version;
  return JSON.stringify(lock);
}

beforeAll(() => {
  const found = latestRelease(ROOT);
  if (!found) throw new Error('deploy/releases.txt names no release: record the previous release there');
  release = found;
  const known = spawnSync('git', ['cat-file', '-e', `${release.commit}^{commit}`], { cwd: ROOT });
  if (known.status !== 0) {
    throw new Error(
      `the previous release ${release.version} (commit ${release.commit}, deploy/releases.txt) is not in this ` +
        "clone's git history, so its code cannot be checked out: this test needs a full clone " +
        '(git fetch --unshallow), and the release commit must be an ancestor of this branch ' +
        `(git said: ${known.stderr.toString().trim() || `exit ${known.status}`})`,
    );
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-previous-'));
  previous = path.join(tmp, 'previous');
  mkdirSync(previous);
  // Only what the server needs; `git archive` writes the tree as it was committed.
  const archive = path.join(tmp, 'previous.tar');
  writeFileSync(
    archive,
    execFileSync(
      'git',
      [
        'archive',
        '--format=tar',
        release.commit,
        'package.json',
        'package-lock.json',
        'server',
        'migrations',
      ],
      { cwd: ROOT, maxBuffer: 256 << 20 },
    ),
  );
  execFileSync('tar', ['-xf', archive, '-C', previous]);
  // Its dependencies: the current node_modules when the locked dependencies are the same (no
  // install, no network); otherwise its own production dependencies from the npm cache.
  const sameDependencies =
    dependencyLock(readFileSync(path.join(previous, 'package-lock.json'), 'utf8')) ===
    dependencyLock(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  if (sameDependencies) symlinkSync(path.join(ROOT, 'node_modules'), path.join(previous, 'node_modules'));
  else {
    console.log(
      `previous release ${release.version}: its package-lock.json differs; npm ci --omit=dev --prefer-offline`,
    );
    execFileSync(
      'npm',
      ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
      {
        cwd: previous,
        stdio: 'inherit',
        timeout: 600_000,
      },
    );
  }
}, 660_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** The current migrations plus one more, in a directory of their own. */
function migrationsWith(file: string, sql: string): string {
  const dir = mkdtempSync(path.join(tmp, 'migrations-'));
  cpSync(MIGRATIONS_DIR, dir, { recursive: true });
  writeFileSync(path.join(dir, file), sql);
  return dir;
}

/** Runs the previous release's `parley` CLI. */
function previousCli(args: string[], databaseUrl: string) {
  return spawnSync(process.execPath, [path.join(previous, 'server/src/cli/main.ts'), ...args], {
    cwd: previous,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, PARLEY_ENV_FILE: '/nonexistent' },
  });
}

describe(`the previous release's server on the new schema`, () => {
  it.each([['false'], ['true']])(
    'is ready on the current schema plus a compatible newer migration (PARLEY_MIGRATE_ON_START=%s)',
    async (migrateOnStart) => {
      const db = await createEmptyDatabase();
      const dir = migrationsWith(
        '9000_expand_probe.sql',
        '-- parley:compatible-with-previous: a new nullable column\nalter table users add column expand_probe text;\n',
      );
      await migrate(db.url, { dir });
      // The first admin exists, as on any installation that is being upgraded.
      const server = await serveAt(previous, db.url, { PARLEY_MIGRATE_ON_START: migrateOnStart });
      const last = await server.readiness();
      expect(last?.status, `${JSON.stringify(last)}\n${server.output().slice(-3000)}`).toBe(200);
      expect(last?.body).toContain('newer than this build');
      expect(last?.body).toContain('9000_expand_probe');
      await server.stop();
    },
    60_000,
  );

  it("its migrator (helm rollback's Job) and its init container's check accept the newer schema", async () => {
    const db = await createEmptyDatabase();
    await migrate(db.url, {
      dir: migrationsWith(
        '9000_expand_probe.sql',
        '-- parley:compatible-with-previous: a new table\ncreate table expand_probe (id int);\n',
      ),
    });
    const migrateRun = previousCli(['migrate'], db.url);
    expect(migrateRun.status, migrateRun.stderr + migrateRun.stdout).toBe(0);
    expect(migrateRun.stdout).toContain('nothing to apply: schema at 9000, newer than this build');
    const check = previousCli(['migrate', '--check'], db.url);
    expect(check.status, check.stderr + check.stdout).toBe(0);
  }, 60_000);

  it('refuses a schema with a migration marked incompatible, with the message', async () => {
    const db = await createEmptyDatabase();
    const dir = migrationsWith(
      '9001_contract_probe.sql',
      '-- parley:incompatible-with-previous: drops a column earlier code reads\nalter table users drop column display_name;\n',
    );
    await migrate(db.url, { dir });
    const server = await serveAt(previous, db.url, { PARLEY_MIGRATE_ON_START: 'false' });
    await Promise.race([server.exited, new Promise((r) => setTimeout(r, 45_000))]);
    expect(server.exitCode(), server.output().slice(-3000)).toBe(1);
    expect(server.output()).toContain('9001_contract_probe');
    expect(server.output()).toContain('not compatible with earlier releases');
    const migrateRun = previousCli(['migrate'], db.url);
    expect(migrateRun.status).toBe(1);
    expect(migrateRun.stderr).toContain('the database was upgraded by a newer Parley');
  }, 60_000);
});

// The tree under test really is the previous release, not this checkout.
it('checked out the release commit from git', () => {
  expect(existsSync(path.join(previous, 'server/src/cli/main.ts'))).toBe(true);
  expect(git('show', `${release.commit}:package.json`)).toContain(`"version": "${release.version}"`);
});
