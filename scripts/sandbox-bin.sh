#!/usr/bin/env bash
# Prints the path of the sandbox binary, building it first if no build exists for the current
# sources. Builds are cached in .cache/sandbox/<key>/ where the key hashes go.mod, go.sum and every
# Go source of sandbox/, so a second `make` reuses the binary and any change rebuilds it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/sandbox"
key=$( { cat "$root/scripts/sandbox-bin.sh" go.mod go.sum; find . -path ./dex -prune -o -name '*.go' -type f -print | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
bin="$root/.cache/sandbox/$key/sandbox"
if [ ! -x "$bin" ]; then
  echo "building the sandbox (kube-apiserver $(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod), etcd, controller-manager, node agent); a cold build takes ~10 minutes on 2 cores" >&2
  mkdir -p "$(dirname "$bin")"
  start=$(date +%s)
  # Stamp the release into kube-apiserver (what `kubectl version` shows), as upstream's build does.
  version=$(sed -n 's/^[[:space:]]*k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' go.mod)
  minor=$(echo "$version" | cut -d. -f2)
  pkg=k8s.io/component-base/version
  ldflags="-X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  go build -buildvcs=false -ldflags "$ldflags" -o "$bin.tmp" ./cmd/sandbox
  mv "$bin.tmp" "$bin"
  echo "sandbox built in $(( $(date +%s) - start ))s: $bin" >&2
  # Keep only the newest few builds.
  ls -1dt "$root/.cache/sandbox"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
fi
echo "$bin"
