// The installer's cluster work (server/src/installer), run as the real CLI process against the
// Kubernetes API stand-in (no API server can run here) and the local PostgreSQL.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { connect, createJobFromCronJob, ensureSecret } from '../../src/installer/kube.ts';
import { createEmptyDatabase, createTestDatabase } from '../support/db.ts';
import {
  seedHealthyCluster,
  startKubeApiStandIn,
  type KubeApiStandIn,
  type StandInOptions,
} from '../support/kube-api.ts';
import { runCommand, type CommandRun } from '../support/process.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const INSTALLER = path.join(ROOT, 'server/src/installer/main.ts');
const NS = 'support';

function installer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandRun> {
  return runCommand(process.execPath, [INSTALLER, ...args], { env: { ...process.env, ...env } });
}

let tmp: string;
let api: KubeApiStandIn | undefined;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-installer-'));
  execFileSync(path.join(ROOT, 'scripts/tools/install-helm.sh'), { stdio: 'inherit' });
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/** A small healthy cluster: a ready node, a default StorageClass, the namespace. */
async function cluster(opts: StandInOptions = {}, storageClass = true): Promise<KubeApiStandIn> {
  api = seedHealthyCluster(await startKubeApiStandIn(opts), NS, { storageClass });
  return api;
}

/** `status`: follows the rollout of the Deployment, polling the stand-in every 20 ms. */
const rolloutStatus = (a: KubeApiStandIn) =>
  installer(['status', '--kubeconfig', a.writeKubeconfig(tmp, NS), '--namespace', NS, '--poll-ms', '20']);

const writes = (a: KubeApiStandIn) =>
  a.requests.filter((r) => !r.startsWith('GET') && !r.includes('selfsubjectaccessreviews'));

describe('preflight (kubernetes)', () => {
  it('passes on a healthy cluster and a reachable PostgreSQL, changing nothing', async () => {
    const db = await createTestDatabase();
    const a = await cluster();
    const kubeconfig = a.writeKubeconfig(tmp, NS);
    const run = await installer([
      'kubernetes',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      NS,
      '--database-url',
      db.url,
      '--preflight-only',
      '--json',
    ]);
    expect(run.stderr).toBe('');
    const report = JSON.parse(run.stdout) as { ok: boolean; checks: { name: string; verdict: string }[] };
    expect(run.code).toBe(0);
    expect(report.ok).toBe(true);
    const verdicts = Object.fromEntries(report.checks.map((c) => [c.name, c.verdict]));
    expect(verdicts).toMatchObject({
      'kubernetes version': 'pass',
      namespace: 'pass',
      permissions: 'pass',
      'storage class': 'pass',
      'cpu and memory': 'pass',
      postgresql: 'pass',
      'postgresql version': 'pass',
      'postgresql privileges': 'pass',
    });
    expect(writes(a)).toEqual([]);
  });

  it('fails before any change with a hint per problem and exit code 3', async () => {
    const a = await cluster(
      { gitVersion: 'v1.25.3', denied: ['create deployments', 'create cronjobs'] },
      false,
    );
    const kubeconfig = a.writeKubeconfig(tmp, NS);
    const run = await installer([
      'kubernetes',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      NS,
      '--database-url',
      'postgres://parley:wrong@127.0.0.1:1/parley',
      '--json',
      '--yes',
    ]);
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout) as {
      checks: { name: string; verdict: string; detail: string; hint?: string }[];
    };
    const failed = report.checks.filter((c) => c.verdict === 'fail');
    expect(failed.map((c) => c.name)).toEqual(['kubernetes version', 'permissions', 'storage class']);
    expect(failed.find((c) => c.name === 'permissions')?.detail).toContain(
      'create deployments, create cronjobs',
    );
    for (const c of failed) expect(c.hint, c.name).toBeTruthy();
    // The database is only checked from this machine in kubernetes mode: a warning.
    expect(report.checks.find((c) => c.name === 'postgresql')?.verdict).toBe('warn');
    expect(writes(a)).toEqual([]);
  });
});

describe('preflight (helm)', () => {
  it('fails with a hint when helm or the chart cannot be used', async () => {
    const run = await installer([
      'kubernetes',
      '--helm',
      path.join(tmp, 'no-such-helm'),
      '--database-url',
      'postgres://x@127.0.0.1:1/p',
      '--json',
    ]);
    expect(run.code).toBe(3);
    const report = JSON.parse(run.stdout) as { checks: { name: string; verdict: string; hint?: string }[] };
    expect(report.checks).toEqual([expect.objectContaining({ name: 'helm and chart', verdict: 'fail' })]);
    expect(report.checks[0]?.hint).toContain('--offline');
  });
});

describe('usage', () => {
  it('--help lists --offline', async () => {
    const run = await installer(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/--offline BUNDLE\s+install from the offline bundle/);
  });

  it('says that no kubeconfig was found, instead of a refused connection to localhost:8080', async () => {
    const home = mkdtempSync(path.join(tmp, 'home-'));
    const run = await installer(
      ['kubernetes', '--database-url', 'postgres://x@127.0.0.1:1/p', '--preflight-only'],
      { HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' },
    );
    expect(run.code, run.stdout).toBe(2);
    expect(run.stderr).toContain('no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG');
    expect(run.stderr).not.toContain('localhost:8080');
  });
});

/** A Deployment whose status moves one step per read, like a real rollout. */
function rollingDeployment(a: KubeApiStandIn) {
  a.put({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'parley',
      namespace: NS,
      generation: 2,
      labels: { 'app.kubernetes.io/instance': 'parley', 'app.kubernetes.io/component': 'server' },
    },
    spec: { replicas: 2, selector: { matchLabels: { app: 'parley' } }, template: {} },
    status: { observedGeneration: 1, replicas: 2, updatedReplicas: 0, availableReplicas: 2 },
  });
  a.put({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: 'parley-migrate-2',
      namespace: NS,
      labels: { 'app.kubernetes.io/instance': 'parley', 'app.kubernetes.io/component': 'migrate' },
    },
    spec: { template: {} },
    status: { conditions: [{ type: 'Complete', status: 'True' }] },
  });
}

describe('rollout (kubectl rollout status logic)', () => {
  it('waits through every stage of a rolling update and reports success', async () => {
    const steps = [
      { observedGeneration: 2, replicas: 3, updatedReplicas: 1, availableReplicas: 2 },
      { observedGeneration: 2, replicas: 3, updatedReplicas: 2, availableReplicas: 2 },
      { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 1 },
      { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
    ];
    let reads = 0;
    const a = await cluster({
      react: ({ method, path: p }, self) => {
        if (method !== 'GET' || !p.endsWith('/deployments/parley')) return;
        const d = self.get('Deployment', NS, 'parley');
        const i = reads++;
        if (d && i >= 1) d.status = steps[Math.min(i - 1, steps.length - 1)];
      },
    });
    rollingDeployment(a);
    const run = await rolloutStatus(a);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Waiting for deployment spec update to be observed');
    expect(run.stdout).toContain('1 out of 2 new replicas have been updated');
    expect(run.stdout).toContain('1 old replicas are pending termination');
    expect(run.stdout).toContain('1 of 2 updated replicas are available');
    expect(run.stdout).toContain('deployment "parley" successfully rolled out');
  });

  it('reports ProgressDeadlineExceeded with the failing pod’s state, events and logs', async () => {
    const a = await cluster();
    rollingDeployment(a);
    const d = a.get('Deployment', NS, 'parley')!;
    d.status = {
      observedGeneration: 2,
      replicas: 3,
      updatedReplicas: 1,
      availableReplicas: 2,
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "parley-7d9" has timed out progressing.',
        },
      ],
    };
    a.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'parley-7d9-abcde',
        namespace: NS,
        labels: { 'app.kubernetes.io/instance': 'parley' },
      },
      spec: { containers: [{ name: 'parley', image: 'x' }] },
      status: {
        phase: 'Pending',
        conditions: [{ type: 'Ready', status: 'False' }],
        initContainerStatuses: [
          {
            name: 'wait-for-schema',
            ready: false,
            restartCount: 4,
            image: 'x',
            imageID: '',
            state: {
              waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s restarting failed container' },
            },
            lastState: { terminated: { exitCode: 3, reason: 'Error' } },
          },
        ],
        containerStatuses: [
          {
            name: 'parley',
            ready: false,
            restartCount: 0,
            image: 'x',
            imageID: '',
            state: { waiting: { reason: 'PodInitializing' } },
          },
        ],
      },
    });
    a.put({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'parley-5c4-ready',
        namespace: NS,
        labels: { 'app.kubernetes.io/instance': 'parley' },
      },
      spec: { containers: [{ name: 'parley', image: 'x' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    a.put({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'parley-7d9-abcde.1', namespace: NS },
      involvedObject: { kind: 'Pod', name: 'parley-7d9-abcde', namespace: NS },
      type: 'Warning',
      reason: 'BackOff',
      message: 'Back-off restarting failed container wait-for-schema',
    });
    a.logs.set(
      `${NS}/parley-7d9-abcde/wait-for-schema`,
      'schema is behind: 1 pending (0002_conversations.sql)\n',
    );

    const run = await rolloutStatus(a);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('deployment "parley" exceeded its progress deadline');
    expect(run.stderr).toContain('pod parley-7d9-abcde (Pending)');
    expect(run.stderr).toContain('init container wait-for-schema: CrashLoopBackOff');
    expect(run.stderr).toContain('exited 3 Error');
    expect(run.stderr).toContain('Warning BackOff: Back-off restarting failed container wait-for-schema');
    expect(run.stderr).toContain('| schema is behind: 1 pending (0002_conversations.sql)');
    expect(run.stderr).not.toContain('parley-5c4-ready');

    const json = await installer([
      'status',
      '--kubeconfig',
      a.writeKubeconfig(tmp, NS),
      '--namespace',
      NS,
      '--poll-ms',
      '20',
      '--json',
    ]);
    const report = JSON.parse(json.stdout) as {
      exitCode: number;
      pods: { pod: string; logs: { text: string }[] }[];
    };
    expect(report.exitCode).toBe(5);
    expect(report.pods[0]?.logs[0]?.text).toContain('schema is behind');
  });

  it('reports a failed migrator Job before looking at the Deployment', async () => {
    const a = await cluster();
    rollingDeployment(a);
    a.get('Job', NS, 'parley-migrate-2')!.status = {
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        },
      ],
    };
    const run = await rolloutStatus(a);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('job "parley-migrate-2" failed: BackoffLimitExceeded');
    expect(a.requests.some((r) => r.includes('/deployments/parley'))).toBe(false);
  });
});

describe('secrets and on-demand backups', () => {
  it('creates a secret only when it is missing and never changes an existing one', async () => {
    const a = await cluster();
    const kube = connect({ kubeconfig: a.writeKubeconfig(tmp, NS) });
    expect(
      await ensureSecret(kube, NS, 'parley-installer-credentials', { PARLEY_VISITOR_TOKEN_SECRET: 'first' }),
    ).toBe('created');
    expect(
      await ensureSecret(kube, NS, 'parley-installer-credentials', { PARLEY_VISITOR_TOKEN_SECRET: 'second' }),
    ).toBe('kept');
    expect(a.get('Secret', NS, 'parley-installer-credentials')?.data).toEqual({
      PARLEY_VISITOR_TOKEN_SECRET: Buffer.from('first').toString('base64'),
    });
    expect(a.requests.filter((r) => r.startsWith('POST'))).toHaveLength(1);
  });

  it('creates a backup Job from the CronJob, owned by it, like kubectl create job --from', async () => {
    const a = await cluster();
    const cron = a.put({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: {
        name: 'parley-backup',
        namespace: NS,
        labels: { 'app.kubernetes.io/instance': 'parley', 'app.kubernetes.io/component': 'backup' },
      },
      spec: {
        schedule: '30 2 * * *',
        jobTemplate: {
          metadata: { labels: { 'app.kubernetes.io/component': 'backup' } },
          spec: {
            template: {
              spec: {
                restartPolicy: 'Never',
                containers: [{ name: 'backup', image: 'parley/parley:0.1.0' }],
              },
            },
          },
        },
      },
    });
    const kube = connect({ kubeconfig: a.writeKubeconfig(tmp, NS) });
    const job = await createJobFromCronJob(kube, NS, 'parley-backup', 'parley-backup-now');
    const stored = a.get('Job', NS, 'parley-backup-now')!;
    expect(job.metadata?.name).toBe('parley-backup-now');
    expect(stored.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        name: 'parley-backup',
        uid: cron.metadata.uid,
        controller: true,
      },
    ]);
    expect(stored.metadata.annotations['cronjob.kubernetes.io/instantiate']).toBe('manual');
    expect(stored.metadata.labels).toEqual({ 'app.kubernetes.io/component': 'backup' });
    expect(stored.spec.template.spec.containers[0].image).toBe('parley/parley:0.1.0');
  });
});

describe('backup mode', () => {
  it('runs a backup now and reports the Job completing', async () => {
    const a = await cluster({
      react: ({ method, path: p }, self) => {
        const name = /\/jobs\/(parley-backup-manual-[^/]+)$/.exec(p)?.[1];
        const job = method === 'GET' && name ? self.get('Job', NS, name) : undefined;
        if (job) job.status = { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] };
      },
    });
    a.put({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: {
        name: 'parley-backup',
        namespace: NS,
        labels: { 'app.kubernetes.io/instance': 'parley', 'app.kubernetes.io/component': 'backup' },
      },
      spec: { schedule: '30 2 * * *', jobTemplate: { spec: { template: { spec: { containers: [] } } } } },
    });
    const run = await installer([
      'backup',
      '--kubeconfig',
      a.writeKubeconfig(tmp, NS),
      '--namespace',
      NS,
      '--poll-ms',
      '20',
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { job: string };
    expect(report.job).toMatch(/^parley-backup-manual-/);
    expect(a.get('Job', NS, report.job)?.metadata.ownerReferences[0].name).toBe('parley-backup');
  });
});

describe('install and upgrade (kubernetes mode, real helm)', () => {
  it('installs, prints the login, and a second run changes nothing', async () => {
    const db = await createTestDatabase();
    // Helm keeps its release records in PostgreSQL here (HELM_DRIVER=sql, a standard Helm
    // storage driver) because it writes its usual Secret records as protobuf, which the
    // stand-in does not decode. Every chart object still goes through the stand-in.
    const helmStore = await createEmptyDatabase();
    const a = await cluster({
      react: ({ method, path: p }, self) => {
        if (method !== 'GET') return;
        const job = /\/jobs\/([^/]+)$/.exec(p)?.[1];
        const j = job ? self.get('Job', NS, job) : undefined;
        if (j && !j.status?.succeeded) {
          j.status = { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] };
          // Its pod, with what `parley migrate` printed.
          self.put({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: `${job}-x7k2p`, namespace: NS, labels: { 'job-name': job } },
            spec: { containers: [{ name: 'migrate', image: 'x' }] },
            status: { phase: 'Succeeded' },
          });
          self.logs.set(
            `${NS}/${job}-x7k2p/migrate`,
            '  applied 0001_foundation.sql (41 ms)\n  applied 0021_key_canary.sql (3 ms)\napplied 2 migration(s); schema is current\n',
          );
        }
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
    a.put({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: 'nginx' },
      spec: { controller: 'k8s.io/ingress-nginx' },
    });
    const valuesFile = path.join(tmp, 'site-values.yaml');
    writeFileSync(valuesFile, 'ingress:\n  enabled: true\n  className: nginx\n  host: parley.example.com\n');
    const kubeconfig = a.writeKubeconfig(tmp, NS);
    const args = [
      'kubernetes',
      '--kubeconfig',
      kubeconfig,
      '--namespace',
      NS,
      '--values',
      valuesFile,
      '--database-url',
      db.url,
      '--poll-ms',
      '20',
      '--yes',
    ];
    const env = {
      HELM_DRIVER: 'sql',
      HELM_DRIVER_SQL_CONNECTION_STRING: `${helmStore.url}?sslmode=disable`,
      HELM_CACHE_HOME: tmp,
      HELM_CONFIG_HOME: tmp,
      HELM_DATA_HOME: tmp,
    };

    const first = await installer(args, env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('secret parley-secrets: the chart generates it');
    expect(first.stdout).toContain('job "parley-migrate-1" completed');
    expect(first.stdout).toContain('deployment "parley" successfully rolled out');
    const chartVersion = /^version:\s*(\S+)/m.exec(
      readFileSync(path.join(ROOT, 'helm/parley/Chart.yaml'), 'utf8'),
    )![1];
    expect(first.stdout).toContain(
      `installed: (none) → ${chartVersion}; migrations applied: 0001_foundation.sql, 0021_key_canary.sql`,
    );
    // The chart's Secret is the one owner of generated credentials (secret-ownership.test.ts).
    expect(a.get('Secret', NS, 'parley-installer-credentials')).toBeUndefined();
    const credentials = a.get('Secret', NS, 'parley-secrets')!;
    const password = Buffer.from(
      credentials.data.PARLEY_INITIAL_ADMIN_PASSWORD as string,
      'base64',
    ).toString();
    expect(password.length).toBeGreaterThanOrEqual(20);
    // Every generated credential is in the format Parley's configuration parses.
    const generated = Object.fromEntries(
      Object.entries(credentials.data as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, 'base64').toString(),
      ]),
    );
    const config = loadConfig({ ...generated, DATABASE_URL: db.url });
    expect(config.encryptionKeys).toBe(generated.PARLEY_ENCRYPTION_KEYS);
    expect(config.auditSigningKey).toBe(generated.PARLEY_AUDIT_SIGNING_KEY?.trim());
    expect(config.lookupKey).toBe(generated.PARLEY_LOOKUP_KEY);
    expect(config.visitorTokenSecret).toBe(generated.PARLEY_VISITOR_TOKEN_SECRET);
    expect(first.stdout).toContain('Console:  http://parley.example.com');
    expect(first.stdout).toContain(`Password: ${password}`);
    // The app reads its database URL from the installer's Secret and its keys from the chart's.
    const app = a.get('Deployment', NS, 'parley')!.spec.template.spec.containers[0];
    const refs = Object.fromEntries(
      app.env.map((e: { name: string; valueFrom?: { secretKeyRef?: { name: string } } }) => [
        e.name,
        e.valueFrom?.secretKeyRef?.name,
      ]),
    );
    expect(refs).toMatchObject({
      DATABASE_URL: 'parley-installer-database',
      PARLEY_VISITOR_TOKEN_SECRET: 'parley-secrets',
    });
    expect(a.get('Secret', NS, 'parley-installer-database')?.data).toEqual({
      DATABASE_URL: Buffer.from(db.url).toString('base64'),
    });

    const before = a.requests.filter(
      (r) => !r.startsWith('GET') && !r.includes('selfsubjectaccessreviews'),
    ).length;
    const second = await installer(args, env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('secret parley-secrets: exists; the chart keeps every value');
    expect(second.stdout).toContain('nothing to change');
    expect(second.stdout).toContain(`unchanged: ${chartVersion} → ${chartVersion}; migrations applied: none`);
    expect(second.stdout).toContain(`Password: ${password}`);
    const after = a.requests.filter(
      (r) => !r.startsWith('GET') && !r.includes('selfsubjectaccessreviews'),
    ).length;
    expect(after).toBe(before);
  }, 120_000);
});
