// The previous release's code, checked out from git for tests of rolling upgrades and rollbacks:
// the last commit in deploy/releases.txt, written out with `git archive` (package files, server,
// migrations). Its dependencies are the current node_modules when the locked dependencies are the
// same (no install, no network), else its own production dependencies (npm ci --omit=dev). Without
// the commit in the clone's history this THROWS, saying why: such a test must not skip (CI runs on
// a full clone).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { latestRelease } from '../../../scripts/build-info.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface PreviousRelease {
  version: string;
  commit: string;
  /** The checked-out tree (server/src/cli/main.ts is its `parley`). */
  root: string;
  /** Runs its `parley` CLI with the given environment. */
  cli(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string };
}

/** package-lock.json without the root package's own version, which every release changes. */
function dependencyLock(text: string): string {
  const lock = JSON.parse(text) as { version?: string; packages?: Record<string, { version?: string }> };
  delete lock.version;
  if (lock.packages?.['']) delete lock.packages[''].version;
  return JSON.stringify(lock);
}

export function checkoutPreviousRelease(into: string): PreviousRelease {
  const release = latestRelease(ROOT);
  if (!release) throw new Error('deploy/releases.txt names no release: record the previous release there');
  const known = spawnSync('git', ['cat-file', '-e', `${release.commit}^{commit}`], { cwd: ROOT });
  if (known.status !== 0) {
    throw new Error(
      `the previous release ${release.version} (commit ${release.commit}, deploy/releases.txt) is not in this ` +
        "clone's git history, so its code cannot be checked out: this test needs a full clone " +
        '(git fetch --unshallow), and the release commit must be an ancestor of this branch ' +
        `(git said: ${known.stderr.toString().trim() || `exit ${known.status}`})`,
    );
  }
  const root = path.join(into, `parley-${release.version}`);
  mkdirSync(root, { recursive: true });
  const archive = path.join(into, `parley-${release.version}.tar`);
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
  execFileSync('tar', ['-xf', archive, '-C', root]);
  const sameDependencies =
    dependencyLock(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) ===
    dependencyLock(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  if (sameDependencies) symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  else {
    console.log(`previous release ${release.version}: its package-lock.json differs; npm ci --omit=dev`);
    execFileSync(
      'npm',
      ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
      {
        cwd: root,
        stdio: 'inherit',
        timeout: 600_000,
      },
    );
  }
  return {
    ...release,
    root,
    cli(args, env) {
      const run = spawnSync(process.execPath, [path.join(root, 'server/src/cli/main.ts'), ...args], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: process.env.PATH ?? '', PARLEY_ENV_FILE: '/nonexistent', ...env },
      });
      return { status: run.status, stdout: run.stdout, stderr: run.stderr };
    },
  };
}
