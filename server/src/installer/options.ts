// The installer's command line: usage, options and what every mode shares.
import path from 'node:path';
import type { parseArgs } from 'node:util';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

export const USAGE = `Usage: install.sh <mode> [options]

Modes:
  kubernetes      install or upgrade the Helm release, wait for it, print the login
  single-server   install on this Linux host (systemd), against your PostgreSQL
  status          wait for an installed release's rollout; print failing pods' events and logs
  backup          run a backup now (a Job from the backup CronJob)

Common options:
  --offline BUNDLE       install from the offline bundle file parley-VERSION-linux-x64.tar.gz
                         (air-gapped: its Node.js, chart and helm; checked against SHA256SUMS)
  --values FILE          Helm values (kubernetes) or parley.env settings (single-server)
  --database-url URL     the customer's PostgreSQL 13+ (or env PARLEY_DATABASE_URL)
  --preflight-only       run phase 1 only; change nothing
  --json                 machine-readable output
  --yes                  non-interactive (the installer never prompts; accepted for scripts)
  --timeout SECONDS      how long to wait for the rollout (default 900)

Kubernetes options:
  --namespace NAME (parley)  --release NAME (parley)  --chart PATH (bundled chart)
  --kubeconfig FILE  --context NAME  --helm PATH

Single-server options:
  --prefix DIR (/opt/parley)  --config-dir DIR (/etc/parley)  --port N (8080)
  --public-url URL  --no-systemd (install and migrate, but start nothing)

Exit codes: 0 ok, 2 usage, 3 preflight failed (nothing changed), 4 install failed, 5 rollout failed.
`;

export class UsageError extends Error {}

export const options = {
  values: { type: 'string' },
  'database-url': { type: 'string' },
  'preflight-only': { type: 'boolean' },
  json: { type: 'boolean' },
  yes: { type: 'boolean' },
  timeout: { type: 'string' },
  namespace: { type: 'string' },
  release: { type: 'string' },
  chart: { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  helm: { type: 'string' },
  'poll-ms': { type: 'string' },
  prefix: { type: 'string' },
  'config-dir': { type: 'string' },
  port: { type: 'string' },
  'public-url': { type: 'string' },
  'no-systemd': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Flags = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];
export const timeoutMs = (flags: Flags) => Number(flags.timeout ?? 900) * 1000;
export const pollMs = (flags: Flags) => Number(flags['poll-ms'] ?? 2000);
