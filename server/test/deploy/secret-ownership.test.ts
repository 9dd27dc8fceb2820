// One owner for generated secrets (issue 14): the installer and plain Helm, in any order, keep
// every key; and an upgrade with a migration followed by `helm rollback` brings old pods that are
// ready on the newer schema. Real `helm` (scripts/tools/install-helm.sh) and the real installer process run against
// the Kubernetes API stand-in; Helm keeps its release records in PostgreSQL (HELM_DRIVER=sql)
// because it writes its Secret records as protobuf, which the stand-in does not decode. After
// every step the keys the Deployment actually reads (through its secretKeyRefs) are compared.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate } from '../../src/platform/db/migrator.ts';
import { createEmptyDatabase, createTestDatabase } from '../support/db.ts';
import { checkoutPreviousRelease } from '../support/previous-release.ts';
import { serveAt } from '../support/serve-at.ts';
import {
  seedHealthyCluster,
  startKubeApiStandIn,
  type KubeApiStandIn,
  type KubeObject,
} from '../support/kube-api.ts';
import { runCommand, type CommandRun } from '../support/process.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const INSTALLER = path.join(ROOT, 'server/src/installer/main.ts');
const HELM = path.join(ROOT, '.tools/bin/helm');
const CHART = path.join(ROOT, 'helm/parley');
const NS = 'support';
const KEYS = [
  'PARLEY_ENCRYPTION_KEYS',
  'PARLEY_LOOKUP_KEY',
  'PARLEY_AUDIT_SIGNING_KEY',
  'PARLEY_VISITOR_TOKEN_SECRET',
  'PARLEY_INITIAL_ADMIN_PASSWORD',
  'PARLEY_METRICS_TOKEN',
] as const;

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<CommandRun> =>
  runCommand(cmd, args, { env: { ...process.env, ...env } });

let tmp: string;
let api: KubeApiStandIn | undefined;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-owner-'));
  execFileSync(path.join(ROOT, 'scripts/tools/install-helm.sh'), { stdio: 'inherit' });
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** A cluster where Jobs complete and Deployments roll out as soon as they are read. */
async function cluster(): Promise<KubeApiStandIn> {
  api = await startKubeApiStandIn({
    react: ({ method, path: p }, self) => {
      if (method !== 'GET') return;
      const job = /\/jobs\/([^/]+)$/.exec(p)?.[1];
      const j = job ? self.get('Job', NS, job) : undefined;
      if (j) j.status = { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] };
      const d = p.endsWith('/deployments/parley') ? self.get('Deployment', NS, 'parley') : undefined;
      if (d) {
        const n = d.spec.replicas as number;
        d.status = {
          observedGeneration: d.metadata.generation,
          replicas: n,
          updatedReplicas: n,
          availableReplicas: n,
          readyReplicas: n,
        };
      }
    },
  });
  seedHealthyCluster(api, NS);
  return api;
}

/** The app's plain settings from the chart's ConfigMap, minus what the test process decides. */
function configMapEnv(a: KubeApiStandIn): Record<string, string> {
  const data = { ...(a.get('ConfigMap', NS, 'parley')?.data as Record<string, string>) };
  for (const k of ['PARLEY_PORT', 'PARLEY_HOST', 'PARLEY_DATA_DIR']) delete data[k];
  return data;
}

/** A container's plain `value` environment entries (secretKeyRefs are the keys, compared apart). */
function plainEnv(container: KubeObject): Record<string, string> {
  const env = (container.env ?? []) as { name: string; value?: string }[];
  return Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
}

/** SHA-256 of each key as the Deployment's app container reads it (name → secretKeyRef → value). */
function effectiveKeys(a: KubeApiStandIn): Record<string, string> {
  const deployment = a.get('Deployment', NS, 'parley');
  if (!deployment) throw new Error('no Deployment parley');
  const container = (deployment.spec.template.spec.containers as KubeObject[])[0]!;
  const env = container.env as {
    name: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
  const out: Record<string, string> = {};
  for (const key of KEYS) {
    const ref = env.find((e) => e.name === key)?.valueFrom?.secretKeyRef;
    if (!ref) throw new Error(`the Deployment does not read ${key} from a Secret`);
    const value = (a.get('Secret', NS, ref.name)?.data as Record<string, string> | undefined)?.[ref.key];
    if (!value) throw new Error(`Secret ${ref.name} has no ${ref.key}`);
    out[key] = createHash('sha256').update(value).digest('hex');
  }
  return out;
}

async function setup() {
  const db = await createTestDatabase();
  const helmStore = await createEmptyDatabase();
  const a = await cluster();
  const kubeconfig = a.writeKubeconfig(tmp, NS);
  const env = {
    HELM_DRIVER: 'sql',
    HELM_DRIVER_SQL_CONNECTION_STRING: `${helmStore.url}?sslmode=disable`,
    HELM_CACHE_HOME: tmp,
    HELM_CONFIG_HOME: tmp,
    HELM_DATA_HOME: tmp,
    KUBECONFIG: kubeconfig,
  };
  const values = path.join(tmp, 'site-values.yaml');
  writeFileSync(values, 'replicaCount: 2\n');
  const installer = async () => {
    const r = await run(
      process.execPath,
      [INSTALLER, 'kubernetes', '--kubeconfig', kubeconfig, '--namespace', NS, '--values', values].concat([
        '--database-url',
        db.url,
        '--poll-ms',
        '20',
        '--yes',
      ]),
      env,
    );
    expect(r.code, `installer: ${r.stderr}\n${r.stdout}`).toBe(0);
    return r;
  };
  // What the documented plain-Helm path runs (docs/OPERATIONS.md, "With plain Helm").
  const helmUpgrade = async () => {
    const r = await run(
      HELM,
      ['upgrade', '--install', 'parley', CHART, '-n', NS, '-f', values, '--set', `database.url=${db.url}`]
        // The stand-in serves no OpenAPI documents (the installer passes the same flag).
        .concat(['--disable-openapi-validation']),
      env,
    );
    expect(r.code, `helm upgrade: ${r.stderr}`).toBe(0);
    return r;
  };
  const helm = (...args: string[]) => run(HELM, [...args, '-n', NS], env);
  return { a, db, installer, helmUpgrade, helm };
}

describe('generated secrets have one owner', () => {
  it('installer, then Helm, then the installer, then Helm: every key unchanged', async () => {
    const { a, installer, helmUpgrade } = await setup();
    const first = await installer();
    const keys = effectiveKeys(a);
    const password = Buffer.from(
      a.get('Secret', NS, 'parley-secrets')!.data.PARLEY_INITIAL_ADMIN_PASSWORD as string,
      'base64',
    ).toString();
    expect(first.stdout).toContain(`Password: ${password}`);
    // The installer made no credentials Secret of its own.
    expect(a.get('Secret', NS, 'parley-installer-credentials')).toBeUndefined();
    expect(a.get('Secret', NS, 'parley-secrets')!.metadata.annotations['helm.sh/resource-policy']).toBe(
      'keep',
    );

    await helmUpgrade();
    expect(effectiveKeys(a)).toEqual(keys);
    await installer();
    expect(effectiveKeys(a)).toEqual(keys);
    await helmUpgrade();
    expect(effectiveKeys(a)).toEqual(keys);
  }, 180_000);

  it('Helm, then the installer, then Helm: every key unchanged', async () => {
    const { a, installer, helmUpgrade } = await setup();
    await helmUpgrade();
    const keys = effectiveKeys(a);
    const second = await installer();
    expect(second.stdout).toContain('secret parley-secrets: exists; the chart keeps every value');
    expect(effectiveKeys(a)).toEqual(keys);
    await helmUpgrade();
    expect(effectiveKeys(a)).toEqual(keys);
  }, 180_000);

  it('keys an earlier installer generated into its own Secret are taken over, not replaced', async () => {
    const { a, installer, helmUpgrade } = await setup();
    // What the installer of release 0.1.0 left: its own Secret, in use by the release.
    const legacy: Record<string, string> = {
      PARLEY_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
      PARLEY_LOOKUP_KEY: Buffer.alloc(48, 8).toString('base64'),
      PARLEY_AUDIT_SIGNING_KEY: 'legacy-signing-key',
      PARLEY_VISITOR_TOKEN_SECRET: 'legacy-visitor-token-secret-'.padEnd(64, 'x'),
      PARLEY_INITIAL_ADMIN_PASSWORD: 'legacy-admin-password',
      PARLEY_METRICS_TOKEN: 'legacy-metrics-token',
    };
    a.put({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'parley-installer-credentials', namespace: NS },
      data: Object.fromEntries(
        Object.entries(legacy).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
    });
    const expected = Object.fromEntries(
      KEYS.map((k) => [
        k,
        createHash('sha256').update(Buffer.from(legacy[k]!).toString('base64')).digest('hex'),
      ]),
    );
    await installer();
    expect(effectiveKeys(a)).toEqual(expected);
    await helmUpgrade();
    expect(effectiveKeys(a)).toEqual(expected);
  }, 180_000);

  it('an upgrade with a migration, then helm rollback: the old pods are ready again, same keys', async () => {
    // Revision 1 runs the previous release (its code from git); revision 2 a new release whose
    // migrator adds a compatible migration. After `helm rollback`, the containers of the restored
    // revision are run as Kubernetes would run them: their args from the stand-in's objects, with
    // the previous release's code (the stand-in schedules no pods).
    const { a, helmUpgrade, helm } = await setup();
    const previous = checkoutPreviousRelease(tmp);
    const appDb = await createEmptyDatabase();
    const env = (container: KubeObject) => ({
      DATABASE_URL: appDb.url,
      ...configMapEnv(a),
      ...plainEnv(container),
    });

    await helmUpgrade();
    const keys = effectiveKeys(a);
    const job1 = a.get('Job', NS, 'parley-migrate-1')!.spec.template.spec.containers[0] as KubeObject;
    const image1 = job1.image as string;
    const rev1 = previous.cli(job1.args as string[], env(job1));
    expect(rev1.status, rev1.stderr).toBe(0);

    const upgraded = await helm(
      'upgrade',
      'parley',
      CHART,
      '--reuse-values',
      '--set',
      'image.tag=9.9.9',
      '--disable-openapi-validation',
    );
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(a.get('Job', NS, 'parley-migrate-2')).toBeDefined();
    expect(a.get('Deployment', NS, 'parley')!.spec.template.spec.containers[0].image).toMatch(/:9\.9\.9$/);
    // Revision 2's migrator: this code, with one more (compatible) migration than the previous release.
    const dir = mkdtempSync(path.join(tmp, 'migrations-'));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    writeFileSync(
      path.join(dir, '9000_rollback_probe.sql'),
      '-- parley:compatible-with-previous: a new table\ncreate table rollback_probe (id int);\n',
    );
    await migrate(appDb.url, { dir });

    const rolledBack = await helm('rollback', 'parley', '1');
    expect(rolledBack.code, rolledBack.stderr).toBe(0);
    expect(effectiveKeys(a)).toEqual(keys);
    // Rollback re-applies revision 1's manifest: its migrator Job (deleted by the upgrade) and the
    // Deployment's pods come back with the old image.
    expect(a.get('Job', NS, 'parley-migrate-2')).toBeUndefined();
    const job = a.get('Job', NS, 'parley-migrate-1')!.spec.template.spec.containers[0] as KubeObject;
    expect(job.image).toBe(image1);
    const migrator = previous.cli(job.args as string[], env(job));
    expect(migrator.status, migrator.stderr + migrator.stdout).toBe(0);
    expect(migrator.stdout).toContain('newer than this build');
    const pod = a.get('Deployment', NS, 'parley')!.spec.template.spec;
    expect(pod.containers[0].image).toBe(image1);
    const init = pod.initContainers[0] as KubeObject;
    const check = previous.cli(init.args as string[], env(init));
    expect(check.status, check.stderr + check.stdout).toBe(0);
    const app = pod.containers[0] as KubeObject;
    const server = await serveAt(previous.root, appDb.url, {
      ...env(app),
      ...configMapEnv(a),
      PARLEY_HOST: '127.0.0.1',
    });
    const ready = await server.readiness();
    expect(ready?.status, server.output().slice(-3000)).toBe(200);
    expect(ready?.body).toContain('9000_rollback_probe');
    await server.stop();
  }, 240_000);
});
