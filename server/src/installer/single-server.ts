/* eslint-disable no-console -- the installer talks to a terminal (or prints JSON) */
// Single-server mode: preflight → install the bundle under --prefix/releases/<build version>,
// parley.env with generated secrets (only when missing), migrate, systemd unit → URL and login.
// An upgrade says what changed: the build it replaces (from → to) and the migrations it applied.
// A different build under the same version is installed (the old copy kept aside), never skipped.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import type { Check } from '../cli/doctor.ts';
import { SETTINGS } from '../config/config.ts';
import { PARLEY_VERSION } from '../platform/version.ts';
import { cpuMemoryCheck, diskCheck, pgClientCheck, portCheck, postgresChecks, systemdCheck } from './host.ts';
import { generateCredentials } from './kube.ts';
import { ROOT, timeoutMs, UsageError, type Flags } from './options.ts';
import { EXIT, type Reporter } from './report.ts';

/** The build an installed release directory holds: build.json's version, else the directory name. */
function installedBuild(dir: string): { version: string; sums: string | null } {
  const read = (f: string) =>
    existsSync(path.join(dir, f)) ? readFileSync(path.join(dir, f), 'utf8') : null;
  const build = read('build.json');
  return {
    version: build ? (JSON.parse(build) as { version: string }).version : path.basename(dir),
    sums: read('SHA256SUMS'),
  };
}

/** Puts this bundle at releaseDir: moved from install.sh's scratch copy when it can be, else copied. */
function placeBundle(releaseDir: string, r: Reporter): void {
  mkdirSync(path.dirname(releaseDir), { recursive: true });
  let moved = false;
  if (process.env.PARLEY_BUNDLE_SCRATCH === path.resolve(ROOT)) {
    try {
      renameSync(ROOT, releaseDir);
      moved = true;
    } catch {
      /* another filesystem: copy */
    }
  }
  if (!moved) cpSync(ROOT, releaseDir, { recursive: true, verbatimSymlinks: true });
  r.step(`${moved ? 'moved' : 'copied'} the bundle to ${releaseDir}`);
}

export async function singleServerMode(flags: Flags, r: Reporter): Promise<number> {
  const prefix = path.resolve(flags.prefix ?? '/opt/parley');
  const configDir = path.resolve(flags['config-dir'] ?? '/etc/parley');
  const envFile = path.join(configDir, 'parley.env');
  const port = Number(flags.port ?? 8080);
  const existing = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  const fromValues = flags.values ? parseEnv(readFileSync(flags.values, 'utf8')) : {};
  const databaseUrl =
    flags['database-url'] ??
    process.env.PARLEY_DATABASE_URL ??
    fromValues.DATABASE_URL ??
    existing.DATABASE_URL;
  if (!databaseUrl)
    throw new UsageError('no database: pass --database-url postgres://user:password@host:5432/parley');

  // Phase 1
  const checks: Check[] = [
    Number(process.versions.node.split('.')[0]) === 24
      ? { name: 'node runtime', verdict: 'pass', detail: `Node.js ${process.version} (bundled)` }
      : {
          name: 'node runtime',
          verdict: 'fail',
          detail: `Node.js ${process.version}`,
          hint: 'run scripts/install.sh from the bundle, which brings Node.js 24',
        },
    ...(await postgresChecks(databaseUrl, { unreachable: 'fail' })),
    diskCheck(prefix, 2),
    cpuMemoryCheck(2, 2),
    pgClientCheck(),
  ];
  const unknownSettings = Object.keys(fromValues).filter((k) => !SETTINGS.some((x) => x.env === k));
  checks.push(
    unknownSettings.length === 0
      ? {
          name: 'configuration',
          verdict: 'pass',
          detail: `${Object.keys(fromValues).length} setting(s) from --values`,
        }
      : {
          name: 'configuration',
          verdict: 'fail',
          detail: `not Parley settings: ${unknownSettings.join(', ')}`,
          hint: 'fix the names in the --values file (see parley.env.example)',
        },
  );
  if (!existing.PARLEY_PORT || Number(existing.PARLEY_PORT) !== port || flags['no-systemd'])
    checks.push(await portCheck(port));
  if (!flags['no-systemd']) checks.push(systemdCheck());
  r.checks('Phase 1: preflight (changes nothing)', checks);
  if (checks.some((c) => c.verdict === 'fail')) {
    if (!r.json) console.error('\nPreflight failed; nothing was changed. Fix the items above and run again.');
    return EXIT.preflightFailed;
  }
  if (flags['preflight-only']) return EXIT.ok;

  // Phase 2: files, config (secrets only when missing), migrations, service.
  r.step(`Phase 2: install Parley ${PARLEY_VERSION} under ${prefix}`);
  const releaseDir = path.join(prefix, 'releases', PARLEY_VERSION);
  const current = path.join(prefix, 'current');
  let previous: string | null = null;
  try {
    previous = installedBuild(path.resolve(path.dirname(current), readlinkSync(current))).version;
  } catch {
    /* a first install */
  }
  r.result.from = previous;
  r.result.to = PARLEY_VERSION;
  if (path.resolve(ROOT) !== releaseDir) {
    if (!existsSync(releaseDir)) placeBundle(releaseDir, r);
    else {
      // The same version: the same build (identical SHA256SUMS) is kept; a different build is
      // installed in its place, loudly, and the copy it replaces is kept aside.
      const there = installedBuild(releaseDir).sums;
      const mine = existsSync(path.join(ROOT, 'SHA256SUMS'))
        ? readFileSync(path.join(ROOT, 'SHA256SUMS'), 'utf8')
        : null;
      if (there !== null && there === mine)
        r.step(`${releaseDir} holds this same build (SHA256SUMS identical), kept`);
      else {
        const aside = `${releaseDir}.replaced-${new Date()
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d+Z$/, 'Z')}`;
        renameSync(releaseDir, aside);
        r.step(
          `${releaseDir} held a DIFFERENT build with the same version ${PARLEY_VERSION} (SHA256SUMS differ): ` +
            `installing this build in its place; the replaced copy is kept as ${aside}`,
        );
        r.result.replacedBuild = aside;
        placeBundle(releaseDir, r);
      }
    }
  }
  rmSync(current, { force: true });
  symlinkSync(releaseDir, current);

  mkdirSync(configDir, { recursive: true });
  const wanted: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    PARLEY_PORT: String(port),
    PARLEY_DATA_DIR: path.join(prefix, 'data'),
    PARLEY_CONSOLE_DIR: path.join(current, 'web/console/dist'),
    ...(flags['public-url'] ? { PARLEY_PUBLIC_URL: flags['public-url'] } : {}),
    ...fromValues,
    ...generateCredentials(),
  };
  delete wanted.PARLEY_METRICS_TOKEN; // on one host, /metrics is restricted at the network
  // Only settings this Parley version reads are written (parley.env refuses unknown names); a
  // key that a later version introduces is added by that version's installer run.
  const known = new Set<string>(SETTINGS.map((x) => x.env));
  const added = Object.keys(wanted).filter((k) => existing[k] === undefined && known.has(k));
  if (added.length) {
    const lines = added.map((k) => `${k}=${JSON.stringify(wanted[k])}`);
    const header = existsSync(envFile)
      ? ''
      : '# Parley settings (see parley.env.example). Written by scripts/install.sh; values are never regenerated.\n';
    writeFileSync(
      envFile,
      `${existsSync(envFile) ? readFileSync(envFile, 'utf8').replace(/\n?$/, '\n') : header}${lines.join('\n')}\n`,
      { mode: 0o600 },
    );
    chmodSync(envFile, 0o600);
    r.step(`${envFile}: added ${added.join(', ')}`);
  } else r.step(`${envFile}: complete, kept unchanged`);
  const env = { ...existing, ...Object.fromEntries(added.map((k) => [k, wanted[k]!])) };
  mkdirSync(env.PARLEY_DATA_DIR ?? path.join(prefix, 'data'), { recursive: true });

  const parley = path.join(current, 'bin/parley');
  const migrate = spawnSync(parley, ['migrate'], {
    env: { ...process.env, PARLEY_ENV_FILE: envFile },
    encoding: 'utf8',
  });
  r.step(`parley migrate: ${(migrate.stdout || migrate.stderr).trim().split('\n').at(-1) ?? ''}`);
  if (migrate.status !== 0) {
    if (!r.json) console.error(migrate.stderr);
    return EXIT.installFailed;
  }
  const applied = [...migrate.stdout.matchAll(/^\s*applied (\S+\.sql)/gm)].map((m) => m[1]!);
  r.result.migrationsApplied = applied;
  r.step(
    `${previous === null ? 'installed' : previous === PARLEY_VERSION ? 'reinstalled' : 'upgraded'}: ` +
      `${previous ?? '(none)'} → ${PARLEY_VERSION}; migrations applied: ${applied.length ? applied.join(', ') : 'none'}`,
  );

  if (flags['no-systemd']) {
    r.step(`--no-systemd: start it with  PARLEY_ENV_FILE=${envFile} ${parley} serve`);
  } else {
    if (spawnSync('id', ['parley']).status !== 0) {
      execFileSync('useradd', ['--system', '--home-dir', prefix, '--shell', '/usr/sbin/nologin', 'parley']);
    }
    execFileSync('chown', ['-R', 'parley:parley', env.PARLEY_DATA_DIR ?? path.join(prefix, 'data')]);
    execFileSync('chown', ['root:parley', envFile]);
    chmodSync(envFile, 0o640);
    const unit = readFileSync(path.join(current, 'deploy/systemd/parley.service'), 'utf8')
      .replaceAll('/opt/parley', prefix)
      .replaceAll('/etc/parley', configDir);
    writeFileSync('/etc/systemd/system/parley.service', unit);
    execFileSync('systemctl', ['daemon-reload']);
    execFileSync('systemctl', ['enable', 'parley.service']);
    execFileSync('systemctl', ['restart', 'parley.service']);
    r.step('systemd: parley.service enabled and (re)started');
    const deadline = Date.now() + timeoutMs(flags);
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (res) => res.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) {
        if (!r.json) console.error('Parley did not become ready; see: journalctl -u parley -n 100');
        return EXIT.rolloutFailed;
      }
      await new Promise((res) => setTimeout(res, 1000));
    }
    r.step('/readyz: ready');
  }

  // Phase 3
  const url = env.PARLEY_PUBLIC_URL ?? `http://${'<this-host>'}:${port}`;
  r.result.console = url;
  r.result.admin = { username: 'admin', passwordFile: envFile };
  if (!r.json) {
    console.log('\n==> Phase 3: Parley is installed');
    console.log(`    Console:  ${url}`);
    console.log('    Username: admin');
    console.log(`    Password: ${env.PARLEY_INITIAL_ADMIN_PASSWORD}`);
    console.log('    You are asked to change it at first sign-in.');
  }
  return EXIT.ok;
}
