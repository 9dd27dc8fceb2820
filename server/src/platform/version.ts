// This build's version. A bundle or image carries build.json (scripts/build-info.ts: the
// package.json version plus build metadata from git, unique per build); a development checkout
// has none and says "+dev".
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../../..');

function readVersion(): { version: string; commit: string | null } {
  const buildFile = path.join(ROOT, 'build.json');
  if (existsSync(buildFile)) {
    const build = JSON.parse(readFileSync(buildFile, 'utf8')) as { version: string; commit: string };
    return { version: build.version, commit: build.commit };
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  return { version: `${pkg.version}+dev`, commit: null };
}

const build = readVersion();
export const PARLEY_VERSION: string = build.version;
/** The git commit of a built bundle or image; null in a development checkout. */
export const PARLEY_COMMIT: string | null = build.commit;
