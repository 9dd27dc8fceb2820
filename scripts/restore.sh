#!/usr/bin/env bash
# Thin wrapper for operators: restore a Parley backup archive, then migrate it forward. The
# archive is checked completely (checksums, decryption, manifest) before the target is touched,
# and the restore runs as one transaction.
#
#   Single server:  scripts/restore.sh ARCHIVE [--target DATABASE_URL] [--force] [--key PRIVATE_KEY_FILE]
#   Kubernetes:     scripts/restore.sh ARCHIVE --k8s NAMESPACE/POD [--target DATABASE_URL] [--force] [--key FILE]
#
# Stop Parley first (single server: stop the service; Kubernetes: scale the Deployment to 0 and
# use a one-off pod from the same image, see docs/OPERATIONS.md), so nothing writes meanwhile.
# --force replaces everything in the target's public schema. Without --target, DATABASE_URL is
# the target. Set PARLEY_BIN to the parley command if it is not on PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 1 && "$1" != -* ]] || { sed -n '2,13p' "$0"; exit 2; }
archive="$1"; shift
k8s="" key="" args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --k8s) k8s="$2"; shift 2 ;;
    --key) key="$2"; shift 2 ;;
    --target) args+=(--target "$2"); shift 2 ;;
    --force) args+=(--force); shift ;;
    *) echo "restore.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -f "$archive" ]] || { echo "restore.sh: no such file: $archive" >&2; exit 2; }

if [[ -z "$k8s" ]]; then
  if [[ -n "${PARLEY_BIN:-}" ]]; then parley=("$PARLEY_BIN")
  elif [[ -x "$here/bin/parley" ]]; then parley=("$here/bin/parley")   # the offline bundle / an install
  elif command -v parley >/dev/null 2>&1; then parley=(parley)
  else parley=("$here/node_modules/.bin/node" "$here/server/src/cli/main.ts"); fi
  exec "${parley[@]}" backup restore "$archive" ${key:+--key "$key"} "${args[@]}"
fi

ns="${k8s%%/*}"; pod="${k8s#*/}"
[[ "$ns" != "$k8s" && -n "$pod" ]] || { echo "restore.sh: --k8s takes NAMESPACE/POD" >&2; exit 2; }
remote="/tmp/parley-restore-$$"
cleanup() { kubectl exec -n "$ns" "$pod" -- rm -rf "$remote" >/dev/null 2>&1 || true; }
trap cleanup EXIT
kubectl exec -n "$ns" "$pod" -- sh -c "umask 077 && mkdir -p '$remote'"
# Stream the files in (no kubectl cp/tar needed in the image); the key never touches a command line.
kubectl exec -i -n "$ns" "$pod" -- sh -c "cat > '$remote/archive.parley-backup'" <"$archive"
if [[ -n "$key" ]]; then
  kubectl exec -i -n "$ns" "$pod" -- sh -c "cat > '$remote/key.pem'" <"$key"
  args+=(--key "$remote/key.pem")
fi
kubectl exec -n "$ns" "$pod" -- parley backup restore "$remote/archive.parley-backup" "${args[@]}"
