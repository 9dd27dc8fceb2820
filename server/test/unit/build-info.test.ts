// Build versions are unique per build (scripts/build-info.ts): package.json's version plus the
// number of commits since the latest release (deploy/releases.txt) and the commit, marked dirty
// with a time stamp when built from uncommitted changes. Run on a scratch git repository.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInfo } from '../../../scripts/build-info.ts';

const repo = mkdtempSync(path.join(os.tmpdir(), 'parley-build-info-'));
afterAll(() => rmSync(repo, { recursive: true, force: true }));
const git = (...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();
const commit = (file: string, text: string) => {
  writeFileSync(path.join(repo, file), text);
  git('add', '-A');
  git('commit', '-qm', file);
  return git('rev-parse', 'HEAD');
};

describe('build versions', () => {
  it('counts commits since the latest release, names the commit, marks uncommitted changes', () => {
    git('init', '-q');
    mkdirSync(path.join(repo, 'deploy'));
    writeFileSync(path.join(repo, 'deploy/releases.txt'), '# releases\n');
    const released = commit('package.json', '{ "version": "1.2.3" }\n');
    writeFileSync(path.join(repo, 'deploy/releases.txt'), `# releases\n1.2.3 ${released}\n`);
    commit('deploy/releases.txt', `# releases\n1.2.3 ${released}\n`);
    const head = commit('package.json', '{ "version": "1.3.0" }\n');

    const clean = buildInfo(repo, new Date('2026-12-07T15:01:02.345Z'));
    expect(clean.version).toBe(`1.3.0+2.g${head.slice(0, 7)}`);
    expect(clean.imageTag).toBe(`1.3.0_2.g${head.slice(0, 7)}`);
    expect(clean).toMatchObject({
      commit: head,
      dirty: false,
      previousRelease: { version: '1.2.3', commit: released },
    });

    writeFileSync(path.join(repo, 'package.json'), '{ "version": "1.3.0", "changed": true }\n');
    const dirty = buildInfo(repo, new Date('2026-12-07T15:01:02.345Z'));
    expect(dirty.version).toBe(`1.3.0+2.g${head.slice(0, 7)}.dirty.20261207T150102Z`);
    // Two dirty builds of the same commit differ.
    expect(buildInfo(repo, new Date('2026-12-07T15:01:03Z')).version).not.toBe(dirty.version);
  });

  it('refuses a malformed releases file', () => {
    writeFileSync(path.join(repo, 'deploy/releases.txt'), '1.2.3 not-a-commit\n');
    expect(() => buildInfo(repo)).toThrow(/is not "<version> <40-hex commit>"/);
  });
});
