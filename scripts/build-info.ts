// The identity of a build: package.json's semantic version plus build metadata from git, so
// every build has its own version (docs/OPERATIONS.md, "Releases and versions"):
//   0.2.0+37.g1a2b3c4            37 commits after the latest release (deploy/releases.txt), commit 1a2b3c4
//   0.2.0+37.g1a2b3c4.dirty.20261207T150102Z   built from a work tree with uncommitted changes
// scripts/bundle.ts writes it to build.json in the bundle; the image build writes the same file;
// server/src/platform/version.ts reads it.
//
//   node scripts/build-info.ts            prints the JSON
//   node scripts/build-info.ts --version  prints the version only
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface BuildInfo {
  version: string;
  /** Docker tags cannot hold "+": the image tag is the version with "_" instead. */
  imageTag: string;
  commit: string;
  dirty: boolean;
  builtAt: string;
  /** The latest release this build follows (deploy/releases.txt), if any. */
  previousRelease: { version: string; commit: string } | null;
}

const ROOT = path.resolve(import.meta.dirname, '..');

export function latestRelease(root = ROOT): { version: string; commit: string } | null {
  const lines = readFileSync(path.join(root, 'deploy/releases.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const last = lines.at(-1);
  if (!last) return null;
  const [version, commit] = last.split(/\s+/);
  if (!version || !commit || !/^[0-9a-f]{40}$/.test(commit))
    throw new Error(`deploy/releases.txt: "${last}" is not "<version> <40-hex commit>"`);
  return { version, commit };
}

export function buildInfo(root = ROOT, now = new Date()): BuildInfo {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  let commit: string;
  try {
    commit = git('rev-parse', 'HEAD');
  } catch (err) {
    throw new Error(
      `a build needs the git history to name its version (git rev-parse HEAD failed: ${(err as Error).message.split('\n')[0]})`,
      { cause: err },
    );
  }
  const release = latestRelease(root);
  let count: string;
  try {
    count = release
      ? git('rev-list', '--count', `${release.commit}..HEAD`)
      : git('rev-list', '--count', 'HEAD');
  } catch {
    // The release commit is not in this clone (shallow): count from the root instead, marked.
    count = `${git('rev-list', '--count', 'HEAD')}.r`;
  }
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const version = `${pkg.version}+${count}.g${commit.slice(0, 7)}${dirty ? `.dirty.${stamp}` : ''}`;
  return {
    version,
    imageTag: version.replaceAll('+', '_'),
    commit,
    dirty,
    builtAt: now.toISOString(),
    previousRelease: release,
  };
}

if (import.meta.main) {
  const info = buildInfo();
  console.log(process.argv.includes('--version') ? info.version : JSON.stringify(info, null, 2));
}
