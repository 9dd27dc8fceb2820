// The offline bundle, as IT uses it: `make bundle`'s script builds it, scripts/install.sh
// single-server --offline unpacks it (checking SHA256SUMS) and installs it under a prefix, and
// the installed `parley serve` answers /readyz 200 on the local PostgreSQL and serves the console,
// /widget.js and /demo, with npm set offline and pointed at no registry and without the
// repository's node_modules on PATH; backup.sh and restore.sh run from it; and a different build
// with the same version is installed in its place (said so), never silently skipped.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyDatabase } from '../support/db.ts';
import { seedHealthyCluster, startKubeApiStandIn } from '../support/kube-api.ts';
import { runCommand } from '../support/process.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
/** The build's own version (build.json in the bundle; scripts/build-info.ts). */
let VERSION: string;

// No network, no registry, no repository tools: what an air-gapped host has.
const OFFLINE_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: os.tmpdir(),
  npm_config_offline: 'true',
  npm_config_registry: 'http://127.0.0.1:9/',
};

// Installing unpacks and copies ~450 MiB: on a loaded machine (two test runs at once) one step
// took minutes. These bounds only matter when something hangs.
const STEP_MS = 360_000;
const INSTALL_TEST_MS = 600_000;
const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv) =>
  runCommand(cmd, args, { env, timeoutMs: STEP_MS });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

let tmp: string;
let tarball: string;
let server: ChildProcess | undefined;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-bundle-'));
  const built = await sh(
    process.execPath,
    [path.join(ROOT, 'scripts/bundle.ts'), '--out', path.join(tmp, 'dist')],
    {
      ...process.env,
    },
  );
  expect(built.code, built.stderr).toBe(0);
  const names = readdirSync(path.join(tmp, 'dist')).filter((f) => f.endsWith('-linux-x64.tar.gz'));
  expect(names).toHaveLength(1);
  tarball = path.join(tmp, 'dist', names[0]!);
  VERSION = /^parley-(.+)-linux-x64\.tar\.gz$/.exec(names[0]!)![1]!;
  // package.json's version plus build metadata from git: unique per build.
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(VERSION).toMatch(new RegExp(`^${pkg.version.replaceAll('.', '\\.')}\\+\\d+(\\.r)?\\.g[0-9a-f]{7}`));
}, 300_000);
afterAll(() => {
  server?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('offline bundle', () => {
  it(
    'installs with scripts/install.sh --offline and serves /readyz 200 from the bundled runtime',
    async () => {
      expect(existsSync(tarball)).toBe(true);
      const db = await createEmptyDatabase();
      const port = await freePort();
      const installArgs = [
        path.join(ROOT, 'scripts/install.sh'),
        'single-server',
        '--offline',
        tarball,
        '--prefix',
        path.join(tmp, 'opt'),
        '--config-dir',
        path.join(tmp, 'etc'),
        '--database-url',
        db.url,
        '--port',
        String(port),
        '--no-systemd',
        '--json',
        '--yes',
      ];
      const env = { ...OFFLINE_ENV, PARLEY_BUNDLE_DIR: path.join(tmp, 'unpacked') };
      const install = await sh('bash', installArgs, env);
      expect(install.code, install.stderr + install.stdout).toBe(0);
      const report = JSON.parse(install.stdout) as {
        ok: boolean;
        steps: string[];
        checks: { name: string; verdict: string }[];
      };
      expect(report.ok).toBe(true);
      expect(report.checks.find((c) => c.name === 'node runtime')?.verdict).toBe('pass');
      expect(report.steps.join('\n')).toMatch(/parley migrate: applied \d+ migration/);

      expect(report.steps.join('\n')).toContain('moved the bundle to');

      // A second run (from the installed copy, as an operator re-running it would) changes nothing.
      const rerunArgs = [
        path.join(tmp, 'opt/current/scripts/install.sh'),
        ...installArgs.slice(1).filter((a, i, all) => a !== '--offline' && all[i - 1] !== '--offline'),
      ];
      const again = await sh('bash', rerunArgs, env);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('complete, kept unchanged');
      expect(again.stdout).toContain('nothing to apply');

      const current = path.join(tmp, 'opt/current');
      for (const part of [
        'bin/node',
        'bin/helm',
        `charts/parley-${VERSION}.tgz`,
        'build.json',
        'images.txt',
        'SHA256SUMS',
        'migrations',
        'docs/OPERATIONS.md',
        'scripts/backup.sh',
        'scripts/restore.sh',
        'web/console/dist/index.html',
        'web/widget/dist/widget.js',
        'web/widget/dist/frame.html',
      ]) {
        expect(existsSync(path.join(current, part)), part).toBe(true);
      }
      // images.txt says what this bundle really holds: an image is "in-bundle" only with its archive.
      const images = readFileSync(path.join(current, 'images.txt'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => l.split(' '));
      const app = images.find(([image]) => image!.includes('/parley/parley:'));
      expect(app?.[0]).toMatch(new RegExp(`:${VERSION.replaceAll('+', '_').replaceAll('.', '\\.')}$`));
      for (const [image, where, file] of images) {
        expect(['in-bundle', 'not-in-bundle'], image).toContain(where);
        if (where === 'in-bundle') expect(existsSync(path.join(current, file!)), file).toBe(true);
      }
      if (!existsSync(path.join(current, 'images'))) expect(app?.[1]).toBe('not-in-bundle');

      server = spawn(path.join(current, 'bin/parley'), ['serve'], {
        cwd: tmp,
        env: { ...OFFLINE_ENV, PARLEY_ENV_FILE: path.join(tmp, 'etc/parley.env'), PARLEY_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      server.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      server.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      const deadline = Date.now() + 60_000;
      let status = 0;
      let body = '';
      while (Date.now() < deadline) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`);
          status = res.status;
          body = await res.text();
          if (status === 200) break;
        } catch {
          /* not listening yet */
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(status, `${body}\n${output}`).toBe(200);
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { version: string };
      expect(health.version).toBe(VERSION);
      // The console and the visitor widget came along in the bundle and are served.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      const widget = await fetch(`http://127.0.0.1:${port}/widget.js`);
      expect(widget.status, await widget.clone().text()).toBe(200);
      expect(widget.headers.get('content-type')).toContain('javascript');
      const demo = await fetch(`http://127.0.0.1:${port}/demo`);
      expect(demo.status).toBe(200);
      expect(await demo.text()).toContain('widget.js');

      // The ops scripts run from the installed bundle (its own bin/parley, no repository).
      const envFile = path.join(tmp, 'etc/parley.env');
      const backups = path.join(tmp, 'backups');
      mkdirSync(backups);
      const opsEnv = { ...OFFLINE_ENV, PARLEY_ENV_FILE: envFile, PARLEY_LOG_LEVEL: 'warn' };
      const backup = await sh('bash', [path.join(current, 'scripts/backup.sh'), '--out', backups], opsEnv);
      expect(backup.code, backup.stderr + backup.stdout).toBe(0);
      expect(backup.stdout).toContain('verification PASSED');
      const archive = readdirSync(backups).find((f) => f.endsWith('.parley-backup'))!;
      const target = await createEmptyDatabase();
      const restore = await sh(
        'bash',
        [path.join(current, 'scripts/restore.sh'), path.join(backups, archive), '--target', target.url],
        opsEnv,
      );
      expect(restore.code, restore.stderr + restore.stdout).toBe(0);

      server.kill('SIGTERM');
      await new Promise((r) => server?.once('exit', r));
      server = undefined;
    },
    INSTALL_TEST_MS,
  );

  it(
    'installs a different build with the same version in its place, saying so (never a silent no-op)',
    async () => {
      // The same version, another build: one file and build.json changed, SHA256SUMS made anew.
      const other = path.join(tmp, 'other');
      mkdirSync(other);
      execFileSync('tar', ['-xzf', tarball, '-C', other]);
      const dir = path.join(other, readdirSync(other)[0]!);
      const build = JSON.parse(readFileSync(path.join(dir, 'build.json'), 'utf8')) as { builtAt: string };
      writeFileSync(
        path.join(dir, 'build.json'),
        JSON.stringify({ ...build, builtAt: new Date().toISOString() }),
      );
      writeFileSync(path.join(dir, 'docs/REBUILT.md'), 'a rebuild\n');
      const sums = readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8')
        .split('\n')
        .filter((l) => l && !l.endsWith('./build.json'))
        .concat(
          ['./build.json', './docs/REBUILT.md'].map(
            (f) =>
              `${createHash('sha256')
                .update(readFileSync(path.join(dir, f)))
                .digest('hex')}  ${f}`,
          ),
        );
      writeFileSync(path.join(dir, 'SHA256SUMS'), `${sums.join('\n')}\n`);
      const rebuilt = path.join(tmp, 'rebuilt.tar.gz');
      execFileSync('tar', ['-C', other, '-czf', rebuilt, path.basename(dir)]);

      const db = await createEmptyDatabase();
      const port2 = await freePort();
      const args = (bundle: string) => [
        path.join(ROOT, 'scripts/install.sh'),
        'single-server',
        '--offline',
        bundle,
        '--prefix',
        path.join(tmp, 'opt2'),
        '--config-dir',
        path.join(tmp, 'etc2'),
        '--database-url',
        db.url,
        '--port',
        String(port2),
        '--no-systemd',
        '--json',
      ];
      const first = await sh('bash', args(tarball), OFFLINE_ENV);
      expect(first.code, first.stderr + first.stdout).toBe(0);
      const installed = JSON.parse(first.stdout) as {
        from: string | null;
        to: string;
        migrationsApplied: string[];
      };
      expect(installed.from).toBeNull();
      expect(installed.to).toBe(VERSION);
      expect(installed.migrationsApplied.length).toBeGreaterThan(10);

      const second = await sh('bash', args(rebuilt), OFFLINE_ENV);
      expect(second.code, second.stderr + second.stdout).toBe(0);
      const report = JSON.parse(second.stdout) as {
        steps: string[];
        from: string;
        to: string;
        replacedBuild: string;
        migrationsApplied: string[];
      };
      const steps = report.steps.join('\n');
      expect(steps).toContain(`held a DIFFERENT build with the same version ${VERSION}`);
      expect(steps).toContain(`reinstalled: ${VERSION} → ${VERSION}; migrations applied: none`);
      expect(report.replacedBuild).toContain('.replaced-');
      expect(existsSync(report.replacedBuild)).toBe(true);
      // The running code is the new build.
      const current = path.join(tmp, 'opt2', 'current');
      expect(readlinkSync(current)).toBe(path.join(tmp, 'opt2', 'releases', VERSION));
      expect(existsSync(path.join(current, 'docs/REBUILT.md'))).toBe(true);
    },
    INSTALL_TEST_MS,
  );

  it('runs the kubernetes preflight from the installed bundle with its own helm and chart', async () => {
    const api = await startKubeApiStandIn();
    try {
      seedHealthyCluster(api, 'parley');
      const db = await createEmptyDatabase();
      // With --offline, as an air-gapped Kubernetes install runs it: the scratch copy it unpacks
      // into TMPDIR is removed when the installer ends (it was left behind, ~450 MiB each time).
      const scratch = path.join(tmp, 'scratch');
      mkdirSync(scratch);
      const run = await sh(
        'bash',
        [
          path.join(ROOT, 'scripts/install.sh'),
          'kubernetes',
          '--offline',
          tarball,
          '--kubeconfig',
          api.writeKubeconfig(tmp, 'parley'),
          '--database-url',
          db.url,
          '--preflight-only',
          '--json',
        ],
        // No helm on PATH: the bundle's bin/helm and charts/ must be used.
        { ...OFFLINE_ENV, HELM_CACHE_HOME: tmp, HELM_CONFIG_HOME: tmp, TMPDIR: scratch },
      );
      expect(run.code, run.stderr + run.stdout).toBe(0);
      expect(readdirSync(scratch)).toEqual([]);
      const report = JSON.parse(run.stdout) as { ok: boolean; checks: { name: string; verdict: string }[] };
      expect(report.checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
      expect(report.checks.map((c) => c.name)).toContain('kubernetes version');
    } finally {
      await api.close();
    }
  }, 120_000);
});
