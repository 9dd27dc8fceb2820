// The offline bundle, as IT uses it: `make bundle`'s script builds it, scripts/install.sh
// single-server --offline unpacks it (checking SHA256SUMS) and installs it under a prefix, and
// the installed `parley serve` answers /readyz 200 on the local PostgreSQL, with npm set offline
// and pointed at no registry and without the repository's node_modules on PATH.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmptyDatabase } from '../support/db.ts';
import { startKubeApiStandIn } from '../support/kube-api.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

// No network, no registry, no repository tools: what an air-gapped host has.
const OFFLINE_ENV = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: os.tmpdir(),
  npm_config_offline: 'true',
  npm_config_registry: 'http://127.0.0.1:9/',
};

function sh(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 240_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

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
  tarball = path.join(tmp, 'dist', `parley-${VERSION}-linux-x64.tar.gz`);
}, 300_000);
afterAll(() => {
  server?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('offline bundle', () => {
  it('installs with scripts/install.sh --offline and serves /readyz 200 from the bundled runtime', async () => {
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
      'images.txt',
      'SHA256SUMS',
      'migrations',
      'docs/OPERATIONS.md',
    ]) {
      expect(existsSync(path.join(current, part)), part).toBe(true);
    }

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
    if (existsSync(path.join(ROOT, 'web/console/dist/index.html'))) {
      // The built console came along in the bundle and is served.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
    }
    server.kill('SIGTERM');
    await new Promise((r) => server?.once('exit', r));
    server = undefined;
  }, 180_000);

  it('runs the kubernetes preflight from the installed bundle with its own helm and chart', async () => {
    const api = await startKubeApiStandIn();
    try {
      api.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'parley' } });
      api.put({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'node-1' },
        spec: {},
        status: {
          allocatable: { cpu: '4', memory: '16Gi' },
          conditions: [{ type: 'Ready', status: 'True' }],
        },
      });
      api.put({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: {
          name: 'standard',
          annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
        },
        provisioner: 'example.com/disk',
      });
      const db = await createEmptyDatabase();
      // From the bundle installed by the test above (a second unpack would only cost time).
      const run = await sh(
        'bash',
        [
          path.join(tmp, 'opt/current/scripts/install.sh'),
          'kubernetes',
          '--kubeconfig',
          api.writeKubeconfig(tmp, 'parley'),
          '--database-url',
          db.url,
          '--preflight-only',
          '--json',
        ],
        // No helm on PATH: the bundle's bin/helm and charts/ must be used.
        { ...OFFLINE_ENV, HELM_CACHE_HOME: tmp, HELM_CONFIG_HOME: tmp },
      );
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const report = JSON.parse(run.stdout) as { ok: boolean; checks: { name: string; verdict: string }[] };
      expect(report.checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
      expect(report.checks.map((c) => c.name)).toContain('kubernetes version');
    } finally {
      await api.close();
    }
  }, 120_000);
});
