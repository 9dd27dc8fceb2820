// Unknown-field check for rendered Kubernetes objects, the way `kubectl apply --validate=strict`
// refuses them. The JSON schemas used elsewhere (kubernetes-models) accept any extra property, so a
// misspelt field (`imagePullPolicyy`, `readinessProbe` one level too deep) would render, validate
// and be silently dropped by the API server. @kubernetes/client-node carries a generated model for
// every API type (from the Kubernetes OpenAPI document, release 1.36) with the exact list of its
// fields and their types; walking an object along those models finds every field the API does not
// know.
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): Attribute[] };

const models = k8s as unknown as Record<string, ModelClass | undefined>;
const OPAQUE = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString']);

/** `apps/v1` + `Deployment` → `V1Deployment`; `autoscaling/v2` → `V2…`; `v1` → `V1…`. */
export function modelNameFor(apiVersion: string, kind: string): string {
  const version = apiVersion.includes('/') ? apiVersion.split('/')[1]! : apiVersion;
  return `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
}

function walk(value: unknown, type: string, at: string, out: string[]): void {
  if (value === null || value === undefined || OPAQUE.has(type)) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, array[1]!, `${at}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object')
      for (const [k, v] of Object.entries(value)) walk(v, map[1]!, `${at}[${JSON.stringify(k)}]`, out);
    return;
  }
  const model = models[type];
  if (!model || typeof model.getAttributeTypeMap !== 'function') {
    out.push(`${at}: no Kubernetes model named ${type}`);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return; // types are the schema check's job
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, child] of Object.entries(value)) {
    const childType = attributes.get(key);
    if (childType === undefined) out.push(`${at}.${key}: unknown field (${type} has no "${key}")`);
    else walk(child, childType, `${at}.${key}`, out);
  }
}

/** Every field of the object that its Kubernetes API type does not define, as readable paths. */
export function unknownFields(object: { apiVersion: string; kind: string }): string[] {
  const out: string[] = [];
  const name = modelNameFor(object.apiVersion, object.kind);
  if (!models[name]) return [`${object.apiVersion} ${object.kind}: no Kubernetes model named ${name}`];
  walk(object, name, object.kind, out);
  return out;
}
