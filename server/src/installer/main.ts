// The installer behind scripts/install.sh. Modes:
//   kubernetes     preflight → install/upgrade with Helm (idempotent) → wait for the migrator and
//                  the rollout (diagnostics on failure) → console URL and first admin login
//   single-server  preflight → install the bundle under --prefix, parley.env with generated
//                  secrets (only when missing), migrate, systemd unit → URL and login
//                  (single-server.ts; the command line is in options.ts)
//   status         wait for the rollout of an installed release; diagnostics on failure
//   backup         run a backup now: a Job from the backup CronJob
/* eslint-disable no-console -- the installer talks to a terminal (or prints JSON) */
// Exit codes: 0 ok, 1 unexpected error, 2 usage, 3 preflight failed (nothing changed),
// 4 install/upgrade failed, 5 rollout failed (pods' events and logs printed).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadYaml } from '@kubernetes/client-node';
import type { Check } from '../cli/doctor.ts';
import { PARLEY_VERSION } from '../platform/version.ts';
import { postgresChecks } from './host.ts';
import {
  connect,
  createJobFromCronJob,
  diagnosePods,
  ensureSecret,
  formatPodReports,
  kubernetesPreflight,
  migrationsAppliedBy,
  parseQuantity,
  readSecretValue,
  waitForDeployment,
  waitForJob,
  type Kube,
} from './kube.ts';
import { options, pollMs, ROOT, timeoutMs, UsageError, USAGE, type Flags } from './options.ts';
import { createReporter, EXIT, type Reporter } from './report.ts';
import { singleServerMode } from './single-server.ts';

type Values = Record<string, unknown>;
type Resources = { requests?: { cpu?: string | number; memory?: string | number } } | undefined;
/** The part of the chart's values the installer reads (after merging with the chart defaults). */
interface ChartValues {
  nameOverride?: string;
  fullnameOverride?: string;
  replicaCount?: number;
  publicUrl?: string;
  autoscaling?: { enabled?: boolean; minReplicas?: number };
  resources?: Resources;
  migrations?: { resources?: Resources };
  secrets: { existingSecret?: string };
  database: { url?: string; existingSecret?: string };
  postgresql: { enabled?: boolean; resources?: Resources; persistence?: { storageClass?: string } };
  backup: { enabled?: boolean; persistence: { existingClaim?: string; storageClass?: string } };
  attachments: { storage?: string; persistence: { existingClaim?: string; storageClass?: string } };
  ingress: { enabled?: boolean; className?: string; host?: string; tls: { enabled?: boolean } };
}

function deepMerge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && base[k] && typeof base[k] === 'object'
        ? deepMerge(base[k] as Values, v as Values)
        : v;
  }
  return out;
}

/** The chart's "parley.fullname" (templates/_helpers.tpl), which names its Secrets. */
export function chartFullname(
  release: string,
  values: { nameOverride?: string; fullnameOverride?: string },
): string {
  const cut = (s: string) => s.slice(0, 63).replace(/-+$/, '');
  if (values.fullnameOverride) return cut(values.fullnameOverride);
  const name = values.nameOverride || 'parley';
  return cut(release.includes(name) ? release : `${release}-${name}`);
}

function helmBinary(flags: Flags): string {
  if (flags.helm) return flags.helm;
  for (const candidate of [path.join(ROOT, '.tools/bin/helm'), path.join(ROOT, 'bin/helm')]) {
    if (existsSync(candidate)) return candidate;
  }
  return 'helm';
}

function chartPath(flags: Flags): string {
  if (flags.chart) return flags.chart;
  const packaged = path.join(ROOT, 'charts', `parley-${PARLEY_VERSION}.tgz`);
  return existsSync(packaged) ? packaged : path.join(ROOT, 'helm/parley');
}

function readValues(file: string | undefined): Values {
  if (!file) return {};
  return loadYaml<Values | null>(readFileSync(file, 'utf8')) ?? {};
}

/** The release's total CPU/memory requests, for the capacity check. */
function releaseRequests(v: ChartValues): { cpu: number; memory: number } {
  const replicas = v.autoscaling?.enabled ? Number(v.autoscaling.minReplicas) : Number(v.replicaCount ?? 2);
  const req = (r: Resources) => ({
    cpu: parseQuantity(String(r?.requests?.cpu ?? '0')),
    memory: parseQuantity(String(r?.requests?.memory ?? '0')),
  });
  const app = req(v.resources);
  const migrate = req(v.migrations?.resources);
  const pg = v.postgresql?.enabled ? req(v.postgresql?.resources) : { cpu: 0, memory: 0 };
  return {
    cpu: app.cpu * (replicas + 1) + migrate.cpu + pg.cpu,
    memory: app.memory * (replicas + 1) + migrate.memory + pg.memory,
  };
}

// ---------------------------------------------------------------------------------------------

async function kubernetesMode(flags: Flags, r: Reporter): Promise<number> {
  const namespace = flags.namespace ?? 'parley';
  const release = flags.release ?? 'parley';
  const helm = helmBinary(flags);
  const chart = chartPath(flags);
  const databaseUrl = flags['database-url'] ?? process.env.PARLEY_DATABASE_URL;
  const userValues = readValues(flags.values);
  const shown = spawnSync(helm, ['show', 'values', chart], { encoding: 'utf8' });
  if (shown.status !== 0) {
    r.checks('Phase 1: preflight (changes nothing)', [
      {
        name: 'helm and chart',
        verdict: 'fail',
        detail: `${helm} show values ${chart}: ${shown.error?.message ?? shown.stderr.trim()}`,
        hint: 'run from the offline bundle (--offline), or pass --helm PATH (Helm 3.14+ or 4) and --chart PATH',
      },
    ]);
    return EXIT.preflightFailed;
  }
  const defaults = loadYaml<Values>(shown.stdout);
  const values = deepMerge(defaults, userValues) as unknown as ChartValues;
  const kube = connect({ kubeconfig: flags.kubeconfig, context: flags.context });

  // Secrets the installer manages (only when the values do not bring their own).
  // Generated credentials have ONE owner: the chart's Secret (templates/secrets.yaml), which keeps
  // every value on upgrade and takes over those an earlier installer kept in its own Secret. So
  // the installer creates no credentials itself; it reads the admin password from there.
  const credentialsSecret = values.secrets.existingSecret || `${chartFullname(release, values)}-secrets`;
  const managesDatabase =
    !values.postgresql.enabled && !values.database.url && !values.database.existingSecret;
  const databaseSecret = `${release}-installer-database`;
  if (managesDatabase && !databaseUrl) {
    const existing = await readSecretValue(kube, namespace, databaseSecret, 'DATABASE_URL').catch(
      () => undefined,
    );
    if (!existing) {
      throw new UsageError(
        'no database: pass --database-url postgres://... (or set database.url / database.existingSecret / postgresql.enabled in --values)',
      );
    }
  }

  // Phase 1: preflight (read-only).
  const storageClass =
    values.backup.persistence.storageClass ||
    values.attachments?.persistence?.storageClass ||
    values.postgresql?.persistence?.storageClass ||
    undefined;
  const checks: Check[] = await kubernetesPreflight(kube, {
    namespace,
    storageClass,
    needsStorage:
      (values.backup.enabled && !values.backup.persistence.existingClaim) ||
      (values.attachments.storage === 'volume' && !values.attachments.persistence.existingClaim) ||
      Boolean(values.postgresql.enabled),
    needsIngress: Boolean(values.ingress.enabled),
    ingressClass: values.ingress.className || undefined,
    existingSecrets: [values.secrets.existingSecret, values.database.existingSecret].filter(
      (x): x is string => Boolean(x),
    ),
    requests: releaseRequests(values),
  });
  const urlToCheck = databaseUrl ?? values.database.url;
  if (urlToCheck) checks.push(...(await postgresChecks(urlToCheck, { unreachable: 'warn' })));
  r.checks('Phase 1: preflight (changes nothing)', checks);
  if (checks.some((c) => c.verdict === 'fail')) {
    r.result.phase = 'preflight';
    if (!r.json) console.error('\nPreflight failed; nothing was changed. Fix the items above and run again.');
    return EXIT.preflightFailed;
  }
  if (flags['preflight-only']) return EXIT.ok;

  // Phase 2: install or upgrade.
  r.step(`Phase 2: install or upgrade release ${release} in ${namespace}`);
  try {
    await kube.core.readNamespace({ name: namespace });
  } catch {
    await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
    r.step(`created namespace ${namespace}`);
  }
  const sets: string[] = [];
  if (!values.secrets.existingSecret) {
    const present = await readSecretValue(kube, namespace, credentialsSecret, 'PARLEY_ENCRYPTION_KEYS').catch(
      () => undefined,
    );
    r.step(
      `secret ${credentialsSecret}: ${present ? 'exists; the chart keeps every value' : 'the chart generates it'}`,
    );
  }
  if (managesDatabase) {
    const state = await ensureSecret(kube, namespace, databaseSecret, { DATABASE_URL: databaseUrl ?? '' });
    r.step(`secret ${databaseSecret}: ${state === 'created' ? 'created' : 'exists, kept unchanged'}`);
    sets.push(`database.existingSecret=${databaseSecret}`, 'database.existingSecretKey=DATABASE_URL');
  }

  const helmEnv = { ...process.env, ...(flags.kubeconfig ? { KUBECONFIG: flags.kubeconfig } : {}) };
  const helmCommon = ['--namespace', namespace, ...(flags.context ? ['--kube-context', flags.context] : [])];
  const desired = sets.reduce<Values>((acc, s) => {
    const [key, value] = s.split('=') as [string, string];
    const parts = key.split('.');
    let node = acc;
    for (const p of parts.slice(0, -1)) node = node[p] = { ...(node[p] as Values | undefined) };
    node[parts.at(-1)!] = value;
    return acc;
  }, structuredClone(userValues));
  const listed = spawnSync(helm, ['list', ...helmCommon, '--filter', `^${release}$`, '-o', 'json'], {
    env: helmEnv,
    encoding: 'utf8',
  });
  const current =
    listed.status === 0
      ? (JSON.parse(listed.stdout || '[]') as { chart: string; status: string }[])[0]
      : undefined;
  let unchanged = false;
  // The chart's own version (a bundle's chart carries the build version, 0.2.0+37.g1a2b3c4), so a
  // different build is never taken for "nothing to change".
  const chartVersion = /^version:\s*(\S+)/m.exec(
    spawnSync(helm, ['show', 'chart', chart], { encoding: 'utf8' }).stdout ?? '',
  )?.[1];
  if (current?.status === 'deployed' && chartVersion && current.chart === `parley-${chartVersion}`) {
    const got = spawnSync(helm, ['get', 'values', release, ...helmCommon, '-o', 'json'], {
      env: helmEnv,
      encoding: 'utf8',
    });
    unchanged =
      got.status === 0 &&
      JSON.stringify(sortKeys(JSON.parse(got.stdout || '{}'))) === JSON.stringify(sortKeys(desired));
  }
  if (unchanged) {
    r.step(`release ${release} is already at parley-${chartVersion} with these values: nothing to change`);
    r.result.changed = false;
  } else {
    const args = [
      'upgrade',
      '--install',
      release,
      chart,
      ...helmCommon,
      '--timeout',
      `${Math.ceil(timeoutMs(flags) / 1000)}s`,
      // Helm 4 applies server-side, so the API server validates every object on apply; the
      // client-side pass would only download the cluster's OpenAPI documents to do it twice.
      // (The chart's objects are validated against the Kubernetes schemas in make chart-check.)
      '--disable-openapi-validation',
    ];
    if (flags.values) args.push('-f', flags.values);
    for (const s of sets) args.push('--set', s);
    r.step(`helm ${args.join(' ')}`);
    const res = spawnSync(helm, args, { env: helmEnv, encoding: 'utf8' });
    if (res.status !== 0) {
      r.result.phase = 'install';
      r.result.error = res.stderr.trim();
      if (!r.json) console.error(res.stderr);
      return EXIT.installFailed;
    }
    r.result.changed = true;
  }

  const code = await waitForRelease(kube, namespace, release, flags, r);
  if (code !== EXIT.ok) return code;
  // What changed: chart (build) versions and the migrations the migrator Job applied.
  const from = current?.chart?.replace(/^parley-/, '') ?? null;
  const to = chartVersion ?? null;
  r.result.from = from;
  r.result.to = to;
  const migrator = r.result.migrator as string | undefined;
  const applied = unchanged || !migrator ? [] : await migrationsAppliedBy(kube, namespace, migrator);
  r.result.migrationsApplied = applied;
  r.step(
    `${from === null ? 'installed' : unchanged ? 'unchanged' : 'upgraded'}: ${from ?? '(none)'} → ${to ?? '?'}; migrations applied: ` +
      (applied === null
        ? `see kubectl -n ${namespace} logs job/${migrator} (its pod is gone)`
        : applied.length
          ? applied.join(', ')
          : 'none'),
  );

  // Phase 3: how to sign in.
  const url =
    values.publicUrl ||
    (values.ingress.enabled
      ? `${values.ingress.tls.enabled ? 'https' : 'http'}://${values.ingress.host}`
      : undefined);
  const password = await readSecretValue(kube, namespace, credentialsSecret, 'PARLEY_INITIAL_ADMIN_PASSWORD');
  r.result.console = url ?? null;
  r.result.admin = { username: 'admin', passwordSecret: `${namespace}/${credentialsSecret}` };
  if (!r.json) {
    console.log('\n==> Phase 3: Parley is running');
    console.log(
      `    Console:  ${url ?? `kubectl -n ${namespace} port-forward svc/${release} 8080:80, then http://localhost:8080`}`,
    );
    console.log('    Username: admin');
    console.log(
      `    Password: ${password ?? `(in Secret ${credentialsSecret}, key PARLEY_INITIAL_ADMIN_PASSWORD)`}`,
    );
    console.log('    You are asked to change it at first sign-in.');
  }
  return EXIT.ok;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  return v;
}

/** Wait for the newest migrator Job, then the Deployment; on failure print the pods' story. */
async function waitForRelease(
  kube: Kube,
  namespace: string,
  release: string,
  flags: Flags,
  r: Reporter,
): Promise<number> {
  const instance = `app.kubernetes.io/instance=${release}`;
  const wait = { timeoutMs: timeoutMs(flags), pollMs: pollMs(flags), onProgress: (m: string) => r.step(m) };
  const jobs = (
    await kube.batch.listNamespacedJob({
      namespace,
      labelSelector: `${instance},app.kubernetes.io/component=migrate`,
    })
  ).items;
  const newest = jobs
    .map((j) => j.metadata?.name ?? '')
    .sort((a, b) => Number(b.split('-').at(-1)) - Number(a.split('-').at(-1)))[0];
  const failures: string[] = [];
  r.result.migrator = newest;
  if (newest) {
    const state = await waitForJob(kube, namespace, newest, wait);
    if (!state.done) failures.push(state.message);
  }
  if (failures.length === 0) {
    const deployments = (
      await kube.apps.listNamespacedDeployment({
        namespace,
        labelSelector: `${instance},app.kubernetes.io/component=server`,
      })
    ).items;
    const name = deployments[0]?.metadata?.name;
    if (!name) failures.push(`no Parley deployment found for release ${release} in ${namespace}`);
    else {
      const state = await waitForDeployment(kube, namespace, name, wait);
      if (!state.done) failures.push(state.message);
      else r.result.rollout = state.message;
    }
  }
  if (failures.length === 0) return EXIT.ok;
  const reports = await diagnosePods(kube, namespace, instance);
  r.result.phase = 'rollout';
  r.result.error = failures.join('; ');
  r.result.pods = reports;
  if (!r.json) {
    console.error(`\nRollout failed: ${failures.join('; ')}\n`);
    console.error(formatPodReports(reports));
    console.error(
      '\nSee docs/OPERATIONS.md "Troubleshooting". Nothing was rolled back: old pods keep serving (maxUnavailable 0).',
    );
  }
  return EXIT.rolloutFailed;
}

async function statusMode(flags: Flags, r: Reporter): Promise<number> {
  const kube = connect({ kubeconfig: flags.kubeconfig, context: flags.context });
  return waitForRelease(kube, flags.namespace ?? 'parley', flags.release ?? 'parley', flags, r);
}

async function backupMode(flags: Flags, r: Reporter): Promise<number> {
  const kube = connect({ kubeconfig: flags.kubeconfig, context: flags.context });
  const namespace = flags.namespace ?? 'parley';
  const release = flags.release ?? 'parley';
  const crons = (
    await kube.batch.listNamespacedCronJob({
      namespace,
      labelSelector: `app.kubernetes.io/instance=${release},app.kubernetes.io/component=backup`,
    })
  ).items;
  const cron = crons[0]?.metadata?.name;
  if (!cron)
    throw new UsageError(`no backup CronJob for release ${release} in ${namespace} (backup.enabled=false?)`);
  const job = await createJobFromCronJob(kube, namespace, cron);
  const name = job.metadata?.name ?? '';
  r.step(`created job ${name} from cronjob ${cron}`);
  r.result.job = name;
  const state = await waitForJob(kube, namespace, name, {
    timeoutMs: timeoutMs(flags),
    pollMs: pollMs(flags),
    onProgress: (m) => r.step(m),
  });
  if (state.done) return EXIT.ok;
  const reports = await diagnosePods(kube, namespace, `job-name=${name}`);
  r.result.pods = reports;
  if (!r.json) console.error(`\n${state.message}\n${formatPodReports(reports)}`);
  return EXIT.rolloutFailed;
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`install: ${(err as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values: flags, positionals } = parsed;
  const [mode] = positionals;
  if (flags.help || !mode) {
    process.stdout.write(USAGE);
    return flags.help ? EXIT.ok : EXIT.usage;
  }
  const r = createReporter(flags.json ?? false);
  r.result.mode = mode;
  try {
    switch (mode) {
      case 'kubernetes':
        return r.finish(await kubernetesMode(flags, r));
      case 'single-server':
        return r.finish(await singleServerMode(flags, r));
      case 'status':
        return r.finish(await statusMode(flags, r));
      case 'backup':
        return r.finish(await backupMode(flags, r));
      default:
        throw new UsageError(`unknown mode "${mode}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      r.result.error = err.message;
      if (!r.json) console.error(`install: ${err.message}\n\n${USAGE}`);
      return r.finish(EXIT.usage);
    }
    r.result.error = (err as Error).message;
    if (!r.json) console.error('install: unexpected error:', err);
    return r.finish(EXIT.error);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
