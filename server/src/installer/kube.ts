// The installer's cluster work through @kubernetes/client-node: preflight, secrets created only
// when missing, rollout waiting with kubectl's logic, diagnostics of failing pods, and an
// on-demand backup Job created from the backup CronJob.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  ApiException,
  AppsV1Api,
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  StorageV1Api,
  VersionApi,
  type V1Deployment,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Check } from '../cli/doctor.ts';
import { UsageError } from './options.ts';

export interface Kube {
  core: CoreV1Api;
  apps: AppsV1Api;
  batch: BatchV1Api;
  authz: AuthorizationV1Api;
  storage: StorageV1Api;
  networking: NetworkingV1Api;
  version: VersionApi;
  server: string;
}

export function connect(opts: { kubeconfig?: string | undefined; context?: string | undefined }): Kube {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
  else {
    // Without any of these, client-node falls back to http://localhost:8080, and the error
    // would be a refused connection there: say what is really missing.
    const home = process.env.HOME ? path.join(process.env.HOME, '.kube/config') : undefined;
    if (!process.env.KUBECONFIG && !(home && existsSync(home)) && !process.env.KUBERNETES_SERVICE_HOST) {
      throw new UsageError(
        'no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or put the cluster credentials in ~/.kube/config ' +
          '(the same file kubectl uses; `kubectl config view` shows it)',
      );
    }
    kc.loadFromDefault();
  }
  if (opts.context) kc.setCurrentContext(opts.context);
  return {
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    batch: kc.makeApiClient(BatchV1Api),
    authz: kc.makeApiClient(AuthorizationV1Api),
    storage: kc.makeApiClient(StorageV1Api),
    networking: kc.makeApiClient(NetworkingV1Api),
    version: kc.makeApiClient(VersionApi),
    server: kc.getCurrentCluster()?.server ?? '(no cluster in kubeconfig)',
  };
}

export const isNotFound = (err: unknown) => err instanceof ApiException && err.code === 404;
const isConflict = (err: unknown) => err instanceof ApiException && err.code === 409;

export function describeKubeError(err: unknown): string {
  if (err instanceof ApiException) {
    try {
      const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message?: string };
      if (body?.message) return `${err.code}: ${body.message}`;
    } catch {
      /* not JSON */
    }
    return `HTTP ${err.code}`;
  }
  const e = err as Error & { cause?: { code?: string } };
  return e.cause?.code ? `${e.message} (${e.cause.code})` : e.message;
}

// ---------------------------------------------------------------------------------------------
// Preflight: read-only. Each check passes or fails with a hint; nothing is changed.

export const MIN_KUBERNETES = { major: 1, minor: 27 };

/** What the installer and the chart create in the namespace (SelfSubjectAccessReview each). */
export const REQUIRED_PERMISSIONS: { verb: string; group: string; resource: string }[] = [
  { verb: 'create', group: '', resource: 'secrets' },
  { verb: 'get', group: '', resource: 'secrets' },
  { verb: 'create', group: '', resource: 'configmaps' },
  { verb: 'create', group: '', resource: 'services' },
  { verb: 'create', group: '', resource: 'serviceaccounts' },
  { verb: 'create', group: '', resource: 'persistentvolumeclaims' },
  { verb: 'list', group: '', resource: 'pods' },
  { verb: 'get', group: '', resource: 'pods/log' },
  { verb: 'list', group: '', resource: 'events' },
  { verb: 'create', group: 'apps', resource: 'deployments' },
  { verb: 'create', group: 'batch', resource: 'jobs' },
  { verb: 'create', group: 'batch', resource: 'cronjobs' },
  { verb: 'create', group: 'policy', resource: 'poddisruptionbudgets' },
  { verb: 'create', group: 'networking.k8s.io', resource: 'networkpolicies' },
];

export interface KubePreflightOptions {
  namespace: string;
  storageClass?: string | undefined;
  needsStorage: boolean;
  ingressClass?: string | undefined;
  needsIngress: boolean;
  /** Secrets the values refer to, that must exist before the install (existingSecret). */
  existingSecrets: string[];
  /** CPU (cores) and memory (bytes) the release requests in all. */
  requests: { cpu: number; memory: number };
}

export function parseQuantity(q: string | undefined): number {
  if (!q) return 0;
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const n = Number(m[1]);
  const unit: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  return n * (unit[m[2] ?? ''] ?? 1);
}

export async function kubernetesPreflight(kube: Kube, opts: KubePreflightOptions): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    const v = await kube.version.getCode();
    const major = Number(v.major);
    const minor = Number.parseInt(v.minor, 10);
    const ok =
      major > MIN_KUBERNETES.major || (major === MIN_KUBERNETES.major && minor >= MIN_KUBERNETES.minor);
    checks.push(
      ok
        ? { name: 'kubernetes version', verdict: 'pass', detail: `${v.gitVersion} at ${kube.server}` }
        : {
            name: 'kubernetes version',
            verdict: 'fail',
            detail: `${v.gitVersion}; Parley needs ${MIN_KUBERNETES.major}.${MIN_KUBERNETES.minor} or newer`,
            hint: 'upgrade the cluster, or use the single-server mode',
          },
    );
  } catch (err) {
    checks.push({
      name: 'kubernetes API',
      verdict: 'fail',
      detail: `${kube.server}: ${describeKubeError(err)}`,
      hint: 'check KUBECONFIG / --kubeconfig and --context, and that this machine reaches the API server',
    });
    return checks; // nothing else can be checked
  }

  let namespaceExists = false;
  try {
    await kube.core.readNamespace({ name: opts.namespace });
    namespaceExists = true;
    checks.push({ name: 'namespace', verdict: 'pass', detail: `${opts.namespace} exists` });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const review = await kube.authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb: 'create', resource: 'namespaces' } } },
    });
    checks.push(
      review.status?.allowed
        ? { name: 'namespace', verdict: 'pass', detail: `${opts.namespace} will be created` }
        : {
            name: 'namespace',
            verdict: 'fail',
            detail: `${opts.namespace} does not exist and you may not create namespaces`,
            hint: `ask a cluster admin: kubectl create namespace ${opts.namespace}`,
          },
    );
  }

  const denied: string[] = [];
  for (const p of REQUIRED_PERMISSIONS) {
    const [resource, subresource] = p.resource.split('/');
    const review = await kube.authz.createSelfSubjectAccessReview({
      body: {
        spec: {
          resourceAttributes: {
            namespace: opts.namespace,
            verb: p.verb,
            group: p.group,
            resource,
            ...(subresource ? { subresource } : {}),
          },
        },
      },
    });
    if (!review.status?.allowed) denied.push(`${p.verb} ${p.resource}`);
  }
  checks.push(
    denied.length === 0
      ? {
          name: 'permissions',
          verdict: 'pass',
          detail: `allowed: ${REQUIRED_PERMISSIONS.length} actions in ${opts.namespace}`,
        }
      : {
          name: 'permissions',
          verdict: 'fail',
          detail: `not allowed in ${opts.namespace}: ${denied.join(', ')}`,
          hint: `bind a Role granting these to your user, e.g. the built-in "admin" ClusterRole: kubectl create rolebinding parley-installer --clusterrole=admin --user=<you> -n ${opts.namespace}`,
        },
  );

  if (opts.needsStorage) {
    const classes = (await kube.storage.listStorageClass()).items;
    const names = classes.map((c) => c.metadata?.name ?? '');
    const isDefault = (c: (typeof classes)[number]) =>
      c.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true';
    if (opts.storageClass) {
      checks.push(
        names.includes(opts.storageClass)
          ? { name: 'storage class', verdict: 'pass', detail: `${opts.storageClass} exists` }
          : {
              name: 'storage class',
              verdict: 'fail',
              detail: `${opts.storageClass} not found (have: ${names.join(', ') || 'none'})`,
              hint: 'set backup.persistence.storageClass (and attachments/postgresql) to an existing class',
            },
      );
    } else {
      const def = classes.find(isDefault);
      checks.push(
        def
          ? { name: 'storage class', verdict: 'pass', detail: `default class ${def.metadata?.name}` }
          : {
              name: 'storage class',
              verdict: 'fail',
              detail: `no default StorageClass (have: ${names.join(', ') || 'none'})`,
              hint: 'name one in the values (backup.persistence.storageClass) or use backup.persistence.existingClaim',
            },
      );
    }
  }

  if (opts.needsIngress) {
    const classes = (await kube.networking.listIngressClass()).items;
    const names = classes.map((c) => c.metadata?.name ?? '');
    const wanted =
      opts.ingressClass ??
      classes.find((c) => c.metadata?.annotations?.['ingressclass.kubernetes.io/is-default-class'] === 'true')
        ?.metadata?.name;
    checks.push(
      wanted && names.includes(wanted)
        ? { name: 'ingress class', verdict: 'pass', detail: `${wanted} exists` }
        : {
            name: 'ingress class',
            verdict: 'fail',
            detail: wanted
              ? `${wanted} not found (have: ${names.join(', ') || 'none'})`
              : 'no ingress class given and none is the default',
            hint: 'set ingress.className to an installed controller (kubectl get ingressclass)',
          },
    );
  }

  for (const name of opts.existingSecrets) {
    let found = false;
    if (namespaceExists) {
      try {
        await kube.core.readNamespacedSecret({ name, namespace: opts.namespace });
        found = true;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    checks.push(
      found
        ? { name: 'existing secret', verdict: 'pass', detail: `${name} exists` }
        : {
            name: 'existing secret',
            verdict: 'fail',
            detail: `${name} (named in the values) does not exist in ${opts.namespace}`,
            hint: `create it first (docs/OPERATIONS.md lists its keys): kubectl -n ${opts.namespace} create secret generic ${name} --from-literal=...`,
          },
    );
  }

  const nodes = (await kube.core.listNode()).items.filter(
    (n) =>
      !n.spec?.unschedulable && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  const cpu = nodes.reduce((s, n) => s + parseQuantity(n.status?.allocatable?.cpu), 0);
  const memory = nodes.reduce((s, n) => s + parseQuantity(n.status?.allocatable?.memory), 0);
  const GiB = 1024 ** 3;
  const fits = cpu >= opts.requests.cpu && memory >= opts.requests.memory;
  checks.push({
    name: 'cpu and memory',
    verdict: fits ? 'pass' : 'fail',
    detail: `${nodes.length} ready node(s) with ${cpu.toFixed(1)} CPU and ${(memory / GiB).toFixed(1)} GiB allocatable; the release requests ${opts.requests.cpu.toFixed(2)} CPU and ${(opts.requests.memory / GiB).toFixed(1)} GiB`,
    ...(fits ? {} : { hint: 'add nodes, or lower replicaCount/resources in the values' }),
  });
  return checks;
}

// ---------------------------------------------------------------------------------------------
// Secrets: created only when missing; an existing Secret is never changed.

export const randomSecret = (bytes = 32) => randomBytes(bytes).toString('base64url');

/** Generated-once credentials, in the formats config.ts parses (see parley.env.example). */
export function generateCredentials(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    PARLEY_VISITOR_TOKEN_SECRET: randomSecret(),
    PARLEY_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    PARLEY_LOOKUP_KEY: randomBytes(32).toString('base64'),
    PARLEY_AUDIT_SIGNING_KEY: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    PARLEY_INITIAL_ADMIN_PASSWORD: randomSecret(15),
    PARLEY_METRICS_TOKEN: randomSecret(),
  };
}

export async function ensureSecret(
  kube: Kube,
  namespace: string,
  name: string,
  data: Record<string, string>,
  labels: Record<string, string> = {},
): Promise<'created' | 'kept'> {
  try {
    await kube.core.readNamespacedSecret({ name, namespace });
    return 'kept';
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await kube.core.createNamespacedSecret({
      namespace,
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'parley', ...labels } },
        type: 'Opaque',
        stringData: data,
      },
    });
    return 'created';
  } catch (err) {
    if (isConflict(err)) return 'kept'; // created concurrently by another run
    throw err;
  }
}

export async function readSecretValue(
  kube: Kube,
  namespace: string,
  name: string,
  key: string,
): Promise<string | undefined> {
  try {
    const s = await kube.core.readNamespacedSecret({ name, namespace });
    const v = s.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Rollout: kubectl rollout status's logic for Deployments, plus Job completion.

export type RolloutState =
  { done: true; message: string } | { done: false; message: string; failed: boolean };

/** The same verdicts as `kubectl rollout status deployment/NAME` (DeploymentStatusViewer). */
export function deploymentRolloutState(d: V1Deployment): RolloutState {
  const name = d.metadata?.name ?? '?';
  const generation = d.metadata?.generation ?? 0;
  const s = d.status ?? {};
  if (generation > (s.observedGeneration ?? 0)) {
    return { done: false, failed: false, message: 'Waiting for deployment spec update to be observed...' };
  }
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, failed: true, message: `deployment "${name}" exceeded its progress deadline` };
  }
  const desired = d.spec?.replicas ?? 1;
  const updated = s.updatedReplicas ?? 0;
  if (updated < desired) {
    return {
      done: false,
      failed: false,
      message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${desired} new replicas have been updated...`,
    };
  }
  if ((s.replicas ?? 0) > updated) {
    return {
      done: false,
      failed: false,
      message: `Waiting for deployment "${name}" rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination...`,
    };
  }
  if ((s.availableReplicas ?? 0) < updated) {
    return {
      done: false,
      failed: false,
      message: `Waiting for deployment "${name}" rollout to finish: ${s.availableReplicas ?? 0} of ${updated} updated replicas are available...`,
    };
  }
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

export function jobState(job: V1Job): RolloutState {
  const name = job.metadata?.name ?? '?';
  const conditions = job.status?.conditions ?? [];
  if (conditions.some((c) => c.type === 'Complete' && c.status === 'True')) {
    return { done: true, message: `job "${name}" completed` };
  }
  const failed = conditions.find((c) => c.type === 'Failed' && c.status === 'True');
  if (failed) {
    return {
      done: false,
      failed: true,
      message: `job "${name}" failed: ${failed.reason ?? ''} ${failed.message ?? ''}`.trim(),
    };
  }
  return { done: false, failed: false, message: `Waiting for job "${name}" to complete...` };
}

export interface WaitOptions {
  timeoutMs: number;
  pollMs: number;
  onProgress?: (message: string) => void;
}

async function poll(read: () => Promise<RolloutState>, opts: WaitOptions): Promise<RolloutState> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = '';
  for (;;) {
    const state = await read();
    if (state.message !== last) opts.onProgress?.(state.message);
    last = state.message;
    if (state.done || state.failed) return state;
    if (Date.now() >= deadline) return { done: false, failed: true, message: `timed out: ${state.message}` };
    await new Promise((r) => setTimeout(r, opts.pollMs));
  }
}

export function waitForDeployment(kube: Kube, namespace: string, name: string, opts: WaitOptions) {
  return poll(
    async () => deploymentRolloutState(await kube.apps.readNamespacedDeployment({ name, namespace })),
    opts,
  );
}

export function waitForJob(kube: Kube, namespace: string, name: string, opts: WaitOptions) {
  return poll(async () => jobState(await kube.batch.readNamespacedJob({ name, namespace })), opts);
}

// ---------------------------------------------------------------------------------------------
// Diagnostics: for every pod of a selector that is not ready, its container states, its events
// and the last lines of the failing containers' logs.

export interface PodReport {
  pod: string;
  phase: string;
  problems: string[];
  events: string[];
  logs: { container: string; text: string }[];
}

function containerProblems(pod: V1Pod): { problems: string[]; failing: string[] } {
  const problems: string[] = [];
  const failing: string[] = [];
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []).map((s) => ({ s, init: true })),
    ...(pod.status?.containerStatuses ?? []).map((s) => ({ s, init: false })),
  ];
  for (const { s, init } of statuses) {
    const label = `${init ? 'init container' : 'container'} ${s.name}`;
    const waiting = s.state?.waiting;
    const terminated = s.state?.terminated ?? s.lastState?.terminated;
    if (waiting && waiting.reason !== 'PodInitializing') {
      problems.push(
        `${label}: ${waiting.reason ?? 'waiting'}${waiting.message ? ` (${waiting.message})` : ''}`,
      );
      failing.push(s.name);
    }
    if (terminated && terminated.exitCode !== 0) {
      problems.push(
        `${label}: exited ${terminated.exitCode}${terminated.reason ? ` ${terminated.reason}` : ''}${terminated.message ? `: ${terminated.message}` : ''} (restarts: ${s.restartCount})`,
      );
      if (!failing.includes(s.name)) failing.push(s.name);
    }
    if (!init && !s.ready && !waiting && !terminated)
      problems.push(`${label}: running but not ready (readiness probe)`);
  }
  for (const c of pod.status?.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.status === 'False')
      problems.push(`not scheduled: ${c.message ?? c.reason ?? ''}`);
  }
  return { problems, failing };
}

/** What a completed migrator Job applied, from its pods' logs (`  applied 0021_x.sql (12 ms)`). */
export async function migrationsAppliedBy(
  kube: Kube,
  namespace: string,
  job: string,
): Promise<string[] | null> {
  const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector: `job-name=${job}` })).items;
  if (pods.length === 0) return null;
  const applied = new Set<string>();
  for (const pod of pods) {
    try {
      const text = await kube.core.readNamespacedPodLog({
        name: pod.metadata?.name ?? '',
        namespace,
        container: 'migrate',
      });
      for (const m of String(text).matchAll(/^\s*applied (\S+\.sql)/gm)) applied.add(m[1]!);
    } catch {
      /* a pod whose log is gone (node removed): the others may still tell */
    }
  }
  return [...applied].sort();
}

export async function diagnosePods(
  kube: Kube,
  namespace: string,
  labelSelector: string,
  opts: { tailLines?: number } = {},
): Promise<PodReport[]> {
  const pods = (await kube.core.listNamespacedPod({ namespace, labelSelector })).items;
  const reports: PodReport[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '?';
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (ready || pod.status?.phase === 'Succeeded') continue;
    const { problems, failing } = containerProblems(pod);
    const events = (
      await kube.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })
    ).items
      .filter((e) => e.type !== 'Normal' || failing.length === 0)
      .map((e) => `${e.type ?? ''} ${e.reason ?? ''}: ${e.message ?? ''}`.trim());
    const logs: PodReport['logs'] = [];
    for (const container of failing) {
      try {
        const text = await kube.core.readNamespacedPodLog({
          name,
          namespace,
          container,
          tailLines: opts.tailLines ?? 40,
        });
        logs.push({ container, text: String(text) });
      } catch (err) {
        logs.push({ container, text: `(logs unavailable: ${describeKubeError(err)})` });
      }
    }
    reports.push({ pod: name, phase: pod.status?.phase ?? 'Unknown', problems, events, logs });
  }
  return reports;
}

export function formatPodReports(reports: PodReport[]): string {
  if (reports.length === 0) return 'No failing pods found.';
  const out: string[] = [];
  for (const r of reports) {
    out.push(`pod ${r.pod} (${r.phase})`);
    for (const p of r.problems) out.push(`  problem: ${p}`);
    for (const e of r.events) out.push(`  event:   ${e}`);
    for (const l of r.logs) {
      out.push(`  logs of ${l.container}:`);
      for (const line of l.text.trimEnd().split('\n')) out.push(`    | ${line}`);
    }
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// On-demand backup: a Job from the backup CronJob, as `kubectl create job --from=cronjob/NAME`.

export async function createJobFromCronJob(
  kube: Kube,
  namespace: string,
  cronJobName: string,
  jobName = `${cronJobName}-manual-${Date.now().toString(36)}`.slice(0, 63),
): Promise<V1Job> {
  const cron = await kube.batch.readNamespacedCronJob({ name: cronJobName, namespace });
  const template = cron.spec?.jobTemplate;
  if (!template?.spec) throw new Error(`cronjob ${cronJobName} has no job template`);
  return kube.batch.createNamespacedJob({
    namespace,
    body: {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: jobName,
        namespace,
        labels: template.metadata?.labels ?? {},
        annotations: {
          ...(template.metadata?.annotations ?? {}),
          'cronjob.kubernetes.io/instantiate': 'manual',
        },
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'CronJob',
            name: cronJobName,
            uid: cron.metadata?.uid ?? '',
            controller: true,
          },
        ],
      },
      spec: template.spec,
    },
  });
}
