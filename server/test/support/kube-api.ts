/* eslint-disable @typescript-eslint/no-explicit-any -- rendered and stored Kubernetes objects are untyped YAML/JSON */
// A small stand-in for the Kubernetes API server, for tests only: no API server can run on this
// machine. It answers the calls Helm's `lookup` and Parley's installer make, in the shapes the
// Kubernetes API documents (discovery, typed objects, Status errors, lists with label and field
// selectors, SelfSubjectAccessReview, pod logs), and keeps objects in memory. Tests steer it by
// editing `objects` and by `react` (e.g. to advance a Deployment's status between polls).
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: Record<string, any>;
  [k: string]: any;
};

interface Resource {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

const RESOURCES: Resource[] = [
  ['', 'v1', 'Namespace', 'namespaces', false],
  ['', 'v1', 'Node', 'nodes', false],
  ['', 'v1', 'Secret', 'secrets', true],
  ['', 'v1', 'ConfigMap', 'configmaps', true],
  ['', 'v1', 'ServiceAccount', 'serviceaccounts', true],
  ['', 'v1', 'Service', 'services', true],
  ['', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', true],
  ['', 'v1', 'Pod', 'pods', true],
  ['', 'v1', 'Event', 'events', true],
  ['apps', 'v1', 'Deployment', 'deployments', true],
  ['apps', 'v1', 'StatefulSet', 'statefulsets', true],
  ['apps', 'v1', 'ReplicaSet', 'replicasets', true],
  ['batch', 'v1', 'Job', 'jobs', true],
  ['batch', 'v1', 'CronJob', 'cronjobs', true],
  ['networking.k8s.io', 'v1', 'Ingress', 'ingresses', true],
  ['networking.k8s.io', 'v1', 'IngressClass', 'ingressclasses', false],
  ['networking.k8s.io', 'v1', 'NetworkPolicy', 'networkpolicies', true],
  ['policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', true],
  ['autoscaling', 'v2', 'HorizontalPodAutoscaler', 'horizontalpodautoscalers', true],
  ['storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', false],
].map(([group, version, kind, plural, namespaced]) => ({
  group: group as string,
  version: version as string,
  kind: kind as string,
  plural: plural as string,
  namespaced: namespaced as boolean,
}));

export interface StandInOptions {
  gitVersion?: string;
  /** Verbs ("create deployments" or "create deployments in ns") the caller is NOT allowed. */
  denied?: string[];
  /** Called before each request is answered; may change objects (e.g. advance a rollout). */
  react?: (req: { method: string; path: string }, api: KubeApiStandIn) => void;
}

export interface KubeApiStandIn {
  url: string;
  /** Objects by key `${plural}/${namespace ?? ''}/${name}`. */
  objects: Map<string, KubeObject>;
  logs: Map<string, string>;
  requests: string[];
  put(obj: KubeObject): KubeObject;
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  writeKubeconfig(dir: string, namespace?: string): string;
  close(): Promise<void>;
}

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  reason,
  message,
  code,
});

function matchesSelector(labels: Record<string, string> | undefined, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return k !== undefined && (labels ?? {})[k] === v;
  });
}

function fieldValue(obj: KubeObject, field: string): unknown {
  return field.split('.').reduce<any>((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}

function matchesFields(obj: KubeObject, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=');
    return k !== undefined && String(fieldValue(obj, k)) === v;
  });
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export async function startKubeApiStandIn(opts: StandInOptions = {}): Promise<KubeApiStandIn> {
  const objects = new Map<string, KubeObject>();
  const logs = new Map<string, string>();
  const requests: string[] = [];
  let resourceVersion = 1000;
  const byKind = new Map(RESOURCES.map((r) => [r.kind, r]));
  const keyOf = (plural: string, ns: string | undefined, name: string) => `${plural}/${ns ?? ''}/${name}`;

  const api: KubeApiStandIn = {
    url: '',
    objects,
    logs,
    requests,
    put(obj) {
      const r = byKind.get(obj.kind);
      if (!r) throw new Error(`stand-in does not know kind ${obj.kind}`);
      const meta = obj.metadata;
      meta.uid ??= randomUUID();
      meta.creationTimestamp ??= new Date().toISOString();
      meta.resourceVersion = String(++resourceVersion);
      meta.generation ??= 1;
      // As the API server does: stringData is write-only and merged into data (base64).
      if (obj.kind === 'Secret' && obj.stringData) {
        obj.data = { ...(obj.data ?? {}) };
        for (const [k, v] of Object.entries(obj.stringData as Record<string, string>)) {
          obj.data[k] = Buffer.from(v).toString('base64');
        }
        delete obj.stringData;
      }
      objects.set(
        keyOf(r.plural, r.namespaced ? (meta.namespace as string) : undefined, meta.name as string),
        obj,
      );
      return obj;
    },
    get(kind, namespace, name) {
      const r = byKind.get(kind);
      return r ? objects.get(keyOf(r.plural, r.namespaced ? namespace : undefined, name)) : undefined;
    },
    writeKubeconfig(dir, namespace = 'default') {
      const file = path.join(dir, 'kubeconfig');
      writeFileSync(
        file,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          // Plain HTTP on loopback; client-node 2.x only allows http:// with this flag set.
          clusters: [{ name: 'stand-in', cluster: { server: api.url, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'tester', user: { token: 'test-token' } }],
          contexts: [{ name: 'stand-in', context: { cluster: 'stand-in', user: 'tester', namespace } }],
          'current-context': 'stand-in',
        }),
      );
      return file;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const method = req.method ?? 'GET';
      requests.push(`${method} ${url.pathname}${url.search}`);
      opts.react?.({ method, path: url.pathname }, api);
      const send = (code: number, obj: unknown, type = 'application/json') => {
        res.writeHead(code, { 'content-type': type });
        res.end(typeof obj === 'string' ? obj : JSON.stringify(obj));
      };
      try {
        route(method, url, body, send, req.headers['content-type'] ?? '');
      } catch (err) {
        send(500, status(500, 'InternalError', (err as Error).message));
      }
    });
  });

  function route(
    method: string,
    url: URL,
    body: string,
    send: (code: number, obj: unknown, type?: string) => void,
    contentType = '',
  ) {
    const p = url.pathname.replace(/\/+$/, '');
    if (p === '/version') {
      const gitVersion = opts.gitVersion ?? 'v1.31.4';
      const [major, minor] = gitVersion.replace(/^v/, '').split('.');
      return send(200, { major, minor, gitVersion, platform: 'linux/amd64' });
    }
    if (p === '/api')
      return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (p === '/apis') {
      const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => `${r.group}/${r.version}`))];
      return send(200, {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: [...groups, 'authorization.k8s.io/v1'].map((gv) => {
          const [name, version] = gv.split('/') as [string, string];
          const v = { groupVersion: gv, version };
          return { name, versions: [v], preferredVersion: v };
        }),
      });
    }
    if (p === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' && method === 'POST') {
      const review = JSON.parse(body) as KubeObject;
      const a = (review.spec as { resourceAttributes: Record<string, string> }).resourceAttributes;
      const denied = opts.denied ?? [];
      const allowed =
        !denied.includes(`${a.verb} ${a.resource}`) &&
        !denied.includes(`${a.verb} ${a.resource} in ${a.namespace ?? ''}`);
      return send(201, { ...review, status: { allowed, reason: allowed ? 'stand-in allows' : '' } });
    }
    const m =
      /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?(?:\/([^/]+))?(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(
        p,
      );
    if (!m) return send(404, status(404, 'NotFound', `the server could not find the requested resource`));
    const group = m[2] ?? '';
    const version = m[1] ?? m[3] ?? '';
    let [, , , , ns, plural, name] = m;
    const sub = m[7];
    // "/api/v1/namespaces/NAME" is the namespace object itself.
    if (ns !== undefined && plural === undefined) {
      plural = 'namespaces';
      name = ns;
      ns = undefined;
    }
    if (plural === undefined) {
      return send(200, {
        kind: 'APIResourceList',
        groupVersion: group ? `${group}/${version}` : version,
        resources: RESOURCES.filter((r) => r.group === group && r.version === version).map((r) => ({
          name: r.plural,
          singularName: r.kind.toLowerCase(),
          namespaced: r.namespaced,
          kind: r.kind,
          verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        })),
      });
    }
    const r = RESOURCES.find((x) => x.group === group && x.version === version && x.plural === plural);
    if (!r) return send(404, status(404, 'NotFound', `the server could not find the requested resource`));
    const nsKey = r.namespaced ? ns : undefined;
    if (name === undefined) {
      if (method === 'GET') {
        const items = [...objects.entries()]
          .filter(([k]) => k.startsWith(`${r.plural}/${ns === undefined ? '' : `${ns}/`}`))
          .map(([, o]) => o)
          .filter((o) =>
            matchesSelector(
              o.metadata.labels as Record<string, string>,
              url.searchParams.get('labelSelector'),
            ),
          )
          .filter((o) => matchesFields(o, url.searchParams.get('fieldSelector')));
        return send(200, {
          kind: `${r.kind}List`,
          apiVersion: group ? `${group}/${version}` : version,
          metadata: { resourceVersion: String(resourceVersion) },
          items,
        });
      }
      if (method === 'POST') {
        const obj = JSON.parse(body) as KubeObject;
        obj.metadata.namespace = nsKey ?? obj.metadata.namespace;
        if (!obj.metadata.name && obj.metadata.generateName)
          obj.metadata.name = `${obj.metadata.generateName}${randomUUID().slice(0, 5)}`;
        if (objects.has(keyOf(r.plural, nsKey, obj.metadata.name as string))) {
          return send(409, status(409, 'AlreadyExists', `${r.plural} "${obj.metadata.name}" already exists`));
        }
        return send(
          201,
          api.put({ ...obj, apiVersion: group ? `${group}/${version}` : version, kind: r.kind }),
        );
      }
    }
    if (name === undefined) return send(405, status(405, 'MethodNotAllowed', 'method not allowed'));
    const key = keyOf(r.plural, nsKey, name);
    const found = objects.get(key);
    if (sub === 'log' && r.kind === 'Pod') {
      if (!found) return send(404, status(404, 'NotFound', `pods "${name}" not found`));
      const container = url.searchParams.get('container') ?? '';
      return send(200, logs.get(`${ns}/${name}/${container}`) ?? '', 'text/plain');
    }
    if (method === 'PATCH') {
      // Server-side apply (Helm 4) creates or replaces; JSON merge and strategic merge patches
      // of the flat kind Helm sends are applied as a JSON merge patch.
      const patch = JSON.parse(body) as KubeObject;
      if (contentType.includes('apply-patch')) {
        const merged = found ? { ...patch, metadata: { ...found.metadata, ...patch.metadata } } : patch;
        merged.metadata.namespace = nsKey;
        return send(found ? 200 : 201, api.put(merged));
      }
      if (!found) return send(404, status(404, 'NotFound', `${r.plural} "${name}" not found`));
      return send(200, api.put(mergePatch(found, patch) as KubeObject));
    }
    if (!found) return send(404, status(404, 'NotFound', `${r.plural} "${name}" not found`));
    if (method === 'GET') return send(200, found);
    if (method === 'PUT') {
      const obj = JSON.parse(body) as KubeObject;
      return send(200, api.put({ ...obj, metadata: { ...found.metadata, ...obj.metadata } }));
    }
    if (method === 'DELETE') {
      objects.delete(key);
      return send(200, { kind: 'Status', apiVersion: 'v1', status: 'Success', metadata: {} });
    }
    return send(405, status(405, 'MethodNotAllowed', 'method not allowed'));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

/**
 * What a small healthy cluster answers before anything is installed: the namespace, one ready
 * node (4 CPUs, 16 GiB) and, unless told otherwise, a default StorageClass.
 */
export function seedHealthyCluster(
  api: KubeApiStandIn,
  namespace: string,
  opts: { storageClass?: boolean } = {},
): KubeApiStandIn {
  api.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
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
  if (opts.storageClass ?? true) {
    api.put({
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: 'standard', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: 'example.com/disk',
    });
  }
  return api;
}
