#!/usr/bin/env bash
# Thin wrapper for operators: make a backup, prove it by a restore into a scratch database, apply
# retention. Exit code 0 only when the backup was written AND verified.
#
#   Single server:  scripts/backup.sh [--out DIR] [--no-verify]
#   Kubernetes:     scripts/backup.sh --k8s NAMESPACE/deploy/parley [--copy-to DIR] [--no-verify]
#
# Configuration (DATABASE_URL, BACKUP_DIR, BACKUP_ENCRYPT_PUBLIC_KEY, BACKUP_DECRYPT_PRIVATE_KEY …)
# comes from the environment or ./parley.env, as for `parley serve`; in Kubernetes from the pod.
# With encryption, verification needs the private key where the command runs; without it, use
# --no-verify here and run `parley backup verify --latest` where the key is.
# Set PARLEY_BIN to the parley command to use (default: the bundle's bin/parley, then parley on PATH, then this checkout's CLI).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
k8s="" out="" copy_to="" verify=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --k8s) k8s="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --copy-to) copy_to="$2"; shift 2 ;;
    --no-verify) verify=0; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "backup.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ -n "$k8s" ]]; then
  ns="${k8s%%/*}"; target="${k8s#*/}"
  [[ "$ns" != "$k8s" && -n "$target" ]] || { echo "backup.sh: --k8s takes NAMESPACE/deploy/NAME or NAMESPACE/POD" >&2; exit 2; }
  run() { kubectl exec -n "$ns" "$target" -- parley "$@"; }
else
  run() {
    if [[ -n "${PARLEY_BIN:-}" ]]; then "$PARLEY_BIN" "$@"
    elif [[ -x "$here/bin/parley" ]]; then "$here/bin/parley" "$@"   # the offline bundle / an install
    elif command -v parley >/dev/null 2>&1; then parley "$@"
    else "$here/node_modules/.bin/node" "$here/server/src/cli/main.ts" "$@"; fi
  }
fi

created="$(run backup create ${out:+--out "$out"})"
echo "$created"
archive="$(sed -n 's/^backup written: \([^ ]*\) .*/\1/p' <<<"$created")"
[[ -n "$archive" ]] || { echo "backup.sh: could not find the archive path in the output" >&2; exit 1; }

if [[ "$verify" == 1 ]]; then
  run backup verify "$archive"
fi
run backup prune ${out:+--dir "$out"}

if [[ -n "$k8s" && -n "$copy_to" ]]; then
  mkdir -p "$copy_to"
  # Stream the files out of the pod (no kubectl cp/tar needed in the image).
  kubectl exec -n "$ns" "$target" -- cat "$archive" >"$copy_to/$(basename "$archive")"
  kubectl exec -n "$ns" "$target" -- cat "$archive.json" >"$copy_to/$(basename "$archive").json"
  echo "copied to $copy_to/$(basename "$archive")"
fi
