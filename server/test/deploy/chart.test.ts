/* eslint-disable @typescript-eslint/no-explicit-any -- rendered and stored Kubernetes objects are untyped YAML/JSON */
// The Helm chart, rendered by the real helm binary (scripts/tools/install-helm.sh): lint, every
// rendered object validated against the Kubernetes OpenAPI-derived JSON schemas
// (kubernetes-models) and for unknown fields (support/kube-strict.ts), policy assertions, readable failures for bad values, and an upgrade
// rendered against a Kubernetes API stand-in so that `lookup` sees the Secrets of the install.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadAll } from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { startKubeApiStandIn, type KubeObject } from '../support/kube-api.ts';
import { unknownFields } from '../support/kube-strict.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const CHART = path.join(ROOT, 'helm/parley');
const HELM = path.join(ROOT, '.tools/bin/helm');
const CI_VALUES = readdirSync(path.join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml'));

async function helm(args: string[], env: NodeJS.ProcessEnv = {}) {
  return run(HELM, args, {
    cwd: ROOT,
    env: { ...process.env, HELM_CACHE_HOME: tmp, HELM_CONFIG_HOME: tmp, HELM_DATA_HOME: tmp, ...env },
    maxBuffer: 32 << 20,
  });
}

async function render(
  valuesFile: string | null,
  set: string[] = [],
  extra: string[] = [],
): Promise<KubeObject[]> {
  const args = ['template', 'parley', CHART, '--namespace', 'support', ...extra];
  if (valuesFile) args.push('-f', path.join(CHART, 'ci', valuesFile));
  for (const s of set) args.push('--set', s);
  const { stdout } = await helm(args);
  return (loadAll(stdout) as (KubeObject | null)[]).filter((o): o is KubeObject => o !== null);
}

async function renderError(set: string[]): Promise<string> {
  try {
    await render(null, set);
  } catch (err) {
    return (err as { stderr: string }).stderr;
  }
  throw new Error(`rendering with ${set.join(' ')} succeeded; expected a failure`);
}

type Any = any;

/** Every pod spec in the objects (Deployment, StatefulSet, Job, CronJob, Pod), with its owner. */
function podSpecs(objects: KubeObject[]): { owner: string; spec: Any }[] {
  const out: { owner: string; spec: Any }[] = [];
  for (const o of objects) {
    const owner = `${o.kind}/${o.metadata.name}`;
    if (o.kind === 'Pod') out.push({ owner, spec: o.spec });
    else if (o.kind === 'CronJob') out.push({ owner, spec: o.spec.jobTemplate.spec.template.spec });
    else if (o.spec?.template?.spec) out.push({ owner, spec: o.spec.template.spec });
  }
  return out;
}
const containersOf = (spec: Any): Any[] => [...(spec.initContainers ?? []), ...spec.containers];

async function validateAgainstOpenApi(o: KubeObject): Promise<void> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const mod = (await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`)) as Record<
    string,
    new (data: unknown) => { validate(): void }
  >;
  const Model = mod[o.kind];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o).validate();
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'parley-chart-'));
  execFileSync(path.join(ROOT, 'scripts/tools/install-helm.sh'), { stdio: 'inherit' });
}, 120_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(CI_VALUES)('chart with ci/%s', (valuesFile) => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await render(valuesFile);
  });

  it('passes helm lint --strict', async () => {
    const { stdout } = await helm(['lint', '--strict', CHART, '-f', path.join(CHART, 'ci', valuesFile)]);
    expect(stdout).toContain('0 chart(s) failed');
  });

  it('renders only objects valid against the Kubernetes OpenAPI schemas', async () => {
    expect(objects.length).toBeGreaterThan(8);
    for (const o of objects) {
      await expect(validateAgainstOpenApi(o), `${o.kind}/${o.metadata.name}`).resolves.toBeUndefined();
    }
  });

  it('renders no field the Kubernetes API does not know (strict validation)', () => {
    const unknown = objects.flatMap((o) => unknownFields(o).map((f) => `${o.metadata.name}: ${f}`));
    expect(unknown).toEqual([]);
  });

  it('runs every container non-root, read-only, without capabilities, with limits', () => {
    for (const { owner, spec } of podSpecs(objects)) {
      expect(spec.securityContext?.runAsNonRoot, owner).toBe(true);
      expect(spec.automountServiceAccountToken, owner).toBe(false);
      for (const c of containersOf(spec)) {
        const where = `${owner} container ${c.name}`;
        expect(c.securityContext?.runAsNonRoot, where).toBe(true);
        expect(c.securityContext?.readOnlyRootFilesystem, where).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation, where).toBe(false);
        expect(c.securityContext?.capabilities?.drop, where).toEqual(['ALL']);
        expect(c.resources?.limits?.cpu, where).toBeDefined();
        expect(c.resources?.limits?.memory, where).toBeDefined();
        expect(c.image, where).toMatch(/(:[\w][\w.-]*|@sha256:[a-f0-9]{64})$/);
        expect(c.image, where).not.toMatch(/:latest$/);
      }
    }
  });

  it('has one migrator Job (no hook) and app pods that wait for the schema and never migrate', () => {
    const jobs = objects.filter((o) => o.kind === 'Job');
    expect(jobs.map((j) => j.metadata.name)).toEqual(['parley-migrate-1']);
    expect(jobs[0]?.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
    expect(jobs[0]?.spec.template.spec.containers[0].args).toEqual(['migrate']);
    // The migrator waits for a first-starting PostgreSQL within the Job's deadline.
    const wait = (jobs[0]?.spec.template.spec.containers[0].env as { name: string; value?: string }[]).find(
      (e) => e.name === 'PARLEY_MIGRATE_WAIT_SECONDS',
    );
    expect(Number(wait?.value)).toBeGreaterThanOrEqual(300);
    expect(Number(wait?.value)).toBeLessThan(jobs[0]?.spec.activeDeadlineSeconds as number);
    const config = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'parley');
    expect(config?.data.PARLEY_MIGRATE_ON_START).toBe('false');
    const deployment = objects.find((o) => o.kind === 'Deployment') as Any;
    const init = deployment.spec.template.spec.initContainers[0];
    expect(init.args.slice(0, 3)).toEqual(['migrate', '--check', '--wait']);
    expect(Object.keys(deployment.spec.template.metadata.annotations)).toEqual(
      expect.arrayContaining(['checksum/config', 'checksum/secret']),
    );
    const app = deployment.spec.template.spec.containers[0];
    expect(app.readinessProbe.httpGet.path).toBe('/readyz');
    expect(app.livenessProbe.httpGet.path).toBe('/healthz');
    expect(app.startupProbe.httpGet.path).toBe('/healthz');
    const preStop = Number(app.lifecycle.preStop.exec.command[1]);
    const drain = Number(config?.data.PARLEY_SHUTDOWN_TIMEOUT_SECONDS);
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStop + drain);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('gives the backup CronJob a persistent claim and runs create then verify', () => {
    const cron = objects.find((o) => o.kind === 'CronJob') as Any;
    const pod = cron.spec.jobTemplate.spec.template.spec;
    const script: string = pod.containers[0].args[0];
    expect(script.indexOf('parley backup create')).toBeLessThan(script.indexOf('parley backup verify'));
    const backups = pod.volumes.find((v: Any) => v.name === 'backups');
    expect(backups.persistentVolumeClaim.claimName).toBeTruthy();
    const attachments = podSpecs(objects)
      .flatMap(({ spec }) => spec.volumes ?? [])
      .filter((v: Any) => v.name === 'attachments' || v.name === 'audit-archive');
    for (const v of attachments) expect(v.persistentVolumeClaim, `${v.name} never on emptyDir`).toBeDefined();
    // Anything the app keeps lives on a claim or in PostgreSQL: the scratch data directory holds
    // no backup or archive.
    const config = objects.find((o) => o.kind === 'ConfigMap') as Any;
    expect(config.data.BACKUP_CRON).toBe('off');
    if (config.data.AUDIT_ARCHIVE_DIR) {
      const app = (objects.find((o) => o.kind === 'Deployment') as Any).spec.template.spec;
      const mount = app.containers[0].volumeMounts.find(
        (m: Any) => m.mountPath === config.data.AUDIT_ARCHIVE_DIR,
      );
      expect(app.volumes.find((v: Any) => v.name === mount?.name)?.persistentVolumeClaim).toBeDefined();
    }
  });
});

describe('strict validation of rendered objects', () => {
  it('names a misspelt or misplaced field that the schema check alone lets through', async () => {
    const [deployment] = (await render('default-values.yaml')).filter(
      (o) => o.kind === 'Deployment',
    ) as Any[];
    const container = deployment.spec.template.spec.containers[0];
    container.imagePullPolicyy = 'Always';
    deployment.spec.template.readinessProbe = container.readinessProbe;
    deployment.spec.template.spec.volumes.push({ name: 'x', emptyDir: { sizeLimitt: '1Gi' } });
    await expect(validateAgainstOpenApi(deployment)).resolves.toBeUndefined();
    const last = deployment.spec.template.spec.volumes.length - 1;
    expect(unknownFields(deployment)).toEqual([
      'Deployment.spec.template.spec.containers[0].imagePullPolicyy: unknown field (V1Container has no "imagePullPolicyy")',
      `Deployment.spec.template.spec.volumes[${last}].emptyDir.sizeLimitt: unknown field (V1EmptyDirVolumeSource has no "sizeLimitt")`,
      'Deployment.spec.template.readinessProbe: unknown field (V1PodTemplateSpec has no "readinessProbe")',
    ]);
    expect(unknownFields({ apiVersion: 'example.com/v1', kind: 'Widget' })).toEqual([
      'example.com/v1 Widget: no Kubernetes model named V1Widget',
    ]);
  });
});

describe('chart values', () => {
  it('global.imageRegistry and pull secrets reach every image, hooks and tests included', async () => {
    const objects = await render('private-registry-values.yaml');
    const specs = podSpecs(objects);
    expect(specs.map((s) => s.owner)).toEqual(
      expect.arrayContaining([
        'Deployment/parley',
        'Job/parley-migrate-1',
        'CronJob/parley-backup',
        'Pod/parley-test',
        'StatefulSet/parley-postgresql',
      ]),
    );
    for (const { owner, spec } of specs) {
      expect(spec.imagePullSecrets, owner).toEqual([{ name: 'corp-registry' }]);
      for (const c of containersOf(spec))
        expect(c.image, `${owner} ${c.name}`).toMatch(/^registry\.corp\.internal:5000\//);
    }
  });

  it('uses existing secrets without creating credential Secrets', async () => {
    const objects = await render('existing-secret-values.yaml');
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const app = (objects.find((o) => o.kind === 'Deployment') as Any).spec.template.spec.containers[0];
    const env = Object.fromEntries(app.env.map((e: Any) => [e.name, e.valueFrom?.secretKeyRef]));
    expect(env.DATABASE_URL).toEqual({ name: 'parley-database', key: 'url' });
    expect(env.PARLEY_VISITOR_TOKEN_SECRET.name).toBe('parley-credentials');
  });

  it('points DATABASE_URL at the bundled PostgreSQL when it is enabled', async () => {
    const objects = await render('bundled-postgresql-values.yaml');
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'parley-database') as Any;
    const url = Buffer.from(secret.data.DATABASE_URL, 'base64').toString();
    const pg = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'parley-postgresql') as Any;
    const password = Buffer.from(pg.data.POSTGRES_PASSWORD, 'base64').toString();
    expect(url).toBe(`postgres://parley:${password}@parley-postgresql:5432/parley`);
    expect(objects.some((o) => o.kind === 'StatefulSet')).toBe(true);
  });

  it('puts volume-stored attachments on one claim, mounted by the app pods and the backup CronJob', async () => {
    const objects = await render('attachments-volume-values.yaml');
    const claim = objects.find(
      (o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'parley-attachments',
    ) as Any;
    expect(claim.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(claim.spec.resources.requests.storage).toBe('10Gi');
    const config = (objects.find((o) => o.kind === 'ConfigMap') as Any).data;
    expect(config.ATTACHMENT_STORAGE).toBe('volume');
    // The setting the chart writes is one Parley accepts.
    expect(loadConfig({ ...config, DATABASE_URL: 'postgres://u:p@db/parley' }).attachmentStorage).toBe(
      'volume',
    );
    for (const owner of ['Deployment/parley', 'CronJob/parley-backup']) {
      const spec = podSpecs(objects).find((p) => p.owner === owner)!.spec;
      const volume = spec.volumes.find((v: Any) => v.name === 'attachments');
      expect(volume.persistentVolumeClaim.claimName, owner).toBe('parley-attachments');
      const mount = spec.containers[0].volumeMounts.find((m: Any) => m.name === 'attachments');
      expect(mount.mountPath, owner).toBe(config.ATTACHMENT_DIR);
    }
    // The default keeps attachments in PostgreSQL: no claim, no setting.
    const plain = await render('default-values.yaml');
    expect(plain.some((o) => o.metadata.name === 'parley-attachments')).toBe(false);
    expect((plain.find((o) => o.kind === 'ConfigMap') as Any).data.ATTACHMENT_STORAGE).toBeUndefined();
  });

  it('puts the external audit anchor log on a claim of its own, and forwards to syslog and a witness', async () => {
    const objects = await render('audit-anchors-values.yaml');
    const claim = objects.find(
      (o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === 'parley-audit-anchors',
    ) as Any;
    expect(claim.spec.storageClassName).toBe('anchors-worm');
    expect(claim.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    const config = (objects.find((o) => o.kind === 'ConfigMap') as Any).data;
    const parsed = loadConfig({ ...config, DATABASE_URL: 'postgres://u:p@db/parley' });
    expect(parsed.auditAnchorDir).toBe('/var/lib/parley-anchors');
    expect(parsed.auditSyslogUrl).toBe('tls://siem.internal:6514');
    expect(parsed.auditWitnessUrl).toBe('https://witness.example.com/parley/anchors');
    const app = podSpecs(objects).find((p) => p.owner === 'Deployment/parley')!.spec;
    const mount = app.containers[0].volumeMounts.find((m: Any) => m.mountPath === config.AUDIT_ANCHOR_DIR);
    expect(app.volumes.find((v: Any) => v.name === mount.name).persistentVolumeClaim.claimName).toBe(
      'parley-audit-anchors',
    );
    // Not the data directory, not the database's volume: a separate claim.
    expect(mount.name).not.toBe('data');
    const plain = await render('default-values.yaml');
    expect((plain.find((o) => o.kind === 'ConfigMap') as Any).data.AUDIT_ANCHOR_DIR).toBeUndefined();
    const db = 'database.url=postgres://u:p@db:5432/parley';
    expect(await renderError([db, 'config.AUDIT_ANCHOR_DIR=/x'])).toContain(
      'set `auditAnchors.enabled=true`',
    );
    expect(await renderError([db, 'config.PARLEY_AUDIT_MAC_KEYS=x'])).toContain('credentials go to Secrets');
  });

  it('renders an ingress with TLS and WebSocket timeouts', async () => {
    const objects = await render('ingress-tls-values.yaml');
    const ingress = objects.find((o) => o.kind === 'Ingress') as Any;
    expect(ingress.spec.tls).toEqual([{ hosts: ['parley.example.com'], secretName: 'parley-tls' }]);
    expect(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('3600');
    const config = objects.find((o) => o.kind === 'ConfigMap') as Any;
    expect(config.data.PARLEY_PUBLIC_URL).toBe('https://parley.example.com');
    expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(true);
    const policy = objects.find((o) => o.kind === 'NetworkPolicy') as Any;
    const cidrs = policy.spec.egress
      .flatMap((e: Any) => (e.to ?? []).map((t: Any) => t.ipBlock?.cidr))
      .filter(Boolean);
    expect(cidrs.sort()).toEqual(['10.20.0.15/32', '10.20.1.10/32', '10.20.1.25/32']);
  });

  it('generates secrets that the configuration of Parley accepts', async () => {
    const objects = await render('default-values.yaml');
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'parley-secrets') as Any;
    const env = Object.fromEntries(
      Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, 'base64').toString(),
      ]),
    );
    expect(Object.keys(env).sort()).toEqual([
      'PARLEY_AUDIT_MAC_KEYS',
      'PARLEY_AUDIT_SIGNING_KEY',
      'PARLEY_ENCRYPTION_KEYS',
      'PARLEY_INITIAL_ADMIN_PASSWORD',
      'PARLEY_LOOKUP_KEY',
      'PARLEY_METRICS_TOKEN',
      'PARLEY_VISITOR_TOKEN_SECRET',
    ]);
    const config = loadConfig({ ...env, DATABASE_URL: 'postgres://parley:secret@db.internal:5432/parley' });
    expect(config.encryptionKeys).toMatch(/^k1:/);
    expect(config.lookupKey).toBe(env.PARLEY_LOOKUP_KEY);
    expect(config.auditSigningKey).toContain('BEGIN PRIVATE KEY');
    expect(config.auditMacKeys).toMatch(/^m1:/);
    expect(config.visitorTokenSecret).toBe(env.PARLEY_VISITOR_TOKEN_SECRET);
    expect(config.initialAdminPassword).toBe(env.PARLEY_INITIAL_ADMIN_PASSWORD);
  });

  it('helm lint fails without values, as rendering does (no database)', async () => {
    const lint = await helm(['lint', CHART]).then(
      () => ({ code: 0, out: '' }),
      (err: { stdout: string; stderr: string }) => ({ code: 1, out: err.stdout + err.stderr }),
    );
    expect(lint.code).toBe(1);
    expect(lint.out).toContain('1 chart(s) failed');
  });

  it("a user's ingress annotation replaces the chart's own (no duplicate key)", async () => {
    const rendered = await helm([
      'template',
      'parley',
      CHART,
      '-f',
      path.join(CHART, 'ci', 'default-values.yaml'),
      '--set',
      'ingress.enabled=true,ingress.host=parley.example.com',
      '--set-string',
      'ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-body-size=100m',
      '--show-only',
      'templates/ingress.yaml',
    ]);
    expect(rendered.stdout.match(/proxy-body-size/g)).toHaveLength(1);
    const ingress = (loadAll(rendered.stdout) as KubeObject[]).find((o) => o?.kind === 'Ingress')!;
    expect(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-body-size']).toBe('100m');
    expect(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('3600');
  });

  it('fails with a readable message for removed and contradictory values', async () => {
    const db = 'database.url=postgres://u:p@db:5432/parley';
    // No database is a values error the schema reports, so `helm lint` fails on it too (a
    // template `fail` is only logged by lint): the message names the three ways to give one.
    const noDatabase = await renderError([]);
    for (const part of ["'/database/url'", "'/database/existingSecret'", "'/postgresql/enabled'"])
      expect(noDatabase).toContain(part);
    expect(await renderError([db, 'postgresql.enabled=true'])).toContain('contradicts');
    expect(await renderError([db, 'image.tag=latest'])).toContain('the tag "latest" is not allowed');
    expect(await renderError([db, 'databaseUrl=postgres://x/y'])).toContain('`databaseUrl` was removed');
    expect(await renderError([db, 'postgresql.password=x'])).toContain('`postgresql.password` was removed');
    expect(await renderError([db, 'config.DATABASE_URL=x'])).toContain('credentials go to Secrets');
    expect(await renderError([db, 'ingress.enabled=true'])).toContain('needs `ingress.host`');
    expect(await renderError([db, 'replicaCount=1'])).toContain('must be below the replica count');
    expect(await renderError([db, 'replicaCount=two'])).toContain('replicaCount');
    expect(await renderError([db, 'config.BACKUP_CRON=0 1 * * *'])).toContain(
      'backups run in the backup CronJob',
    );
    expect(await renderError([db, 'backup.keep=3'])).toContain('`backup.keep` was removed');
    expect(await renderError([db, 'config.AUDIT_ARCHIVE_ENABLED=true'])).toContain(
      'set `auditArchive.enabled=true`',
    );
    expect(await renderError([db, 'config.ATTACHMENT_DIR=/data'])).toContain(
      'set `attachments.storage=volume`',
    );
    expect(await renderError([db, 'config.LDAP_BIND_PASSWORD=x'])).toContain('credentials go to Secrets');
    expect(await renderError([db, 'backup.encryption.publicKey=-----BEGIN PUBLIC KEY-----x'])).toContain(
      'cannot verify encrypted archives',
    );
  });
});

describe('upgrade against a Kubernetes API stand-in (helm lookup)', () => {
  it('keeps every generated secret and the pods checksum between install and upgrade', async () => {
    const api = await startKubeApiStandIn();
    try {
      const kubeconfig = api.writeKubeconfig(tmp, 'support');
      const renderLive = async (set: string[]) => {
        const { stdout } = await helm(
          [
            'template',
            'parley',
            CHART,
            '--namespace',
            'support',
            '--dry-run=server',
            '--disable-openapi-validation',
            '-f',
            path.join(CHART, 'ci/bundled-postgresql-values.yaml'),
            ...set.flatMap((s) => ['--set', s]),
          ],
          { KUBECONFIG: kubeconfig },
        );
        return (loadAll(stdout) as (KubeObject | null)[]).filter((o): o is KubeObject => o !== null);
      };
      const install = await renderLive([]);
      const secrets = install.filter((o) => o.kind === 'Secret');
      expect(secrets.map((s) => s.metadata.name).sort()).toEqual([
        'parley-database',
        'parley-postgresql',
        'parley-secrets',
      ]);
      // What `helm install` leaves: the objects, with Helm's ownership metadata.
      for (const s of secrets) {
        api.put({
          ...s,
          metadata: {
            ...s.metadata,
            namespace: 'support',
            labels: { ...s.metadata.labels, 'app.kubernetes.io/managed-by': 'Helm' },
            annotations: {
              ...s.metadata.annotations,
              'meta.helm.sh/release-name': 'parley',
              'meta.helm.sh/release-namespace': 'support',
            },
          },
        });
      }

      // An upgrade that even tries to set a new admin password must not rotate anything.
      const upgrade = await renderLive(['secrets.initialAdminPassword=a-new-password-123']);
      for (const s of secrets) {
        const after = upgrade.find((o) => o.kind === 'Secret' && o.metadata.name === s.metadata.name);
        expect(after?.data, s.metadata.name).toEqual(s.data);
      }
      const checksum = (objs: KubeObject[]) =>
        (objs.find((o) => o.kind === 'Deployment') as Any).spec.template.metadata.annotations[
          'checksum/secret'
        ];
      expect(checksum(upgrade)).toBe(checksum(install));
      expect(api.requests).toContain('GET /api/v1/namespaces/support/secrets/parley-secrets');

      // Without the stand-in (no lookup), a second render would have produced new keys: the
      // comparison above can fail.
      const offline = await render('bundled-postgresql-values.yaml');
      const fresh = offline.find((o) => o.kind === 'Secret' && o.metadata.name === 'parley-secrets');
      expect(fresh?.data.PARLEY_VISITOR_TOKEN_SECRET).not.toBe(
        secrets.find((s) => s.metadata.name === 'parley-secrets')?.data.PARLEY_VISITOR_TOKEN_SECRET,
      );
    } finally {
      await api.close();
    }
  });
});
