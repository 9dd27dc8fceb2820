// Rollback across migrations (expand/contract, issue 14): the PREVIOUS RELEASE's code, checked out
// from git (the last line of deploy/releases.txt), runs on the schema this code migrates to. That
// is what a rolling upgrade (old pods serve while the new migrator runs) and `helm rollback` (old
// pods and the old migrator Job come back) need. A deliberately incompatible migration is refused
// by that old code with the message. Needs the git history: without it this test FAILS and says
// why (CI runs on a full clone).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate } from '../../src/platform/db/migrator.ts';
import { createEmptyDatabase } from '../support/db.ts';
import { checkoutPreviousRelease, type PreviousRelease } from '../support/previous-release.ts';
import { serveAt } from '../support/serve-at.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

let tmp: string;
let release: PreviousRelease;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-previous-'));
  release = checkoutPreviousRelease(tmp);
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

/** Runs the previous release's `parley` CLI against a database. */
const previousCli = (args: string[], databaseUrl: string) => release.cli(args, { DATABASE_URL: databaseUrl });

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
      const server = await serveAt(release.root, db.url, { PARLEY_MIGRATE_ON_START: migrateOnStart });
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
    const server = await serveAt(release.root, db.url, { PARLEY_MIGRATE_ON_START: 'false' });
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
  expect(existsSync(path.join(release.root, 'server/src/cli/main.ts'))).toBe(true);
  const committed = execFileSync('git', ['show', `${release.commit}:package.json`], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(committed).toContain(`"version": "${release.version}"`);
});
