#!/usr/bin/env bash
# Runs Dex, a real OpenID Connect provider, beside the sandbox cluster in DIR (see
# sandbox/dex/cmd/dexctl for what it writes to DIR/dex/).
#
#   scripts/dex.sh up DIR     build Dex once (cached), start it on a free loopback port, wait for it
#   scripts/dex.sh down DIR   stop it
#   scripts/dex.sh bin        print the path of the dex binary, building it first if needed
#
# Dex and dexctl come from the Go module sandbox/dex, kept apart from the kube-apiserver module so
# their dependency graphs never meet. Builds are cached in .cache/dex/<key>/ where the key hashes
# go.mod, go.sum, README.md (it names the release) and the module's Go sources.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: $0 up|down DIR | bin"

build() {
  local src="$root/sandbox/dex" key version
  key=$(cd "$src" && { cat go.mod go.sum README.md; find . -name '*.go' -type f | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-16)
  out="$root/.cache/dex/$key"
  if [ ! -x "$out/dex" ] || [ ! -x "$out/dexctl" ]; then
    # The Dex release whose commit the pseudo-version in go.mod names (see sandbox/dex/README.md).
    version=$(sed -n 's/^dex-release: //p' "$src/README.md")
    echo "building Dex $version and dexctl; a cold build takes 1-4 minutes on 2 cores" >&2
    mkdir -p "$out"
    local start
    start=$(date +%s)
    # No cgo: the sandbox uses Dex's memory storage, so SQLite's C code need not be compiled.
    (
      cd "$src"
      CGO_ENABLED=0 go build -buildvcs=false -trimpath -ldflags "-X main.version=$version" \
        -o "$out/dex.tmp" github.com/dexidp/dex/cmd/dex
      CGO_ENABLED=0 go build -buildvcs=false -trimpath -o "$out/dexctl.tmp" ./cmd/dexctl
    )
    mv "$out/dex.tmp" "$out/dex"
    mv "$out/dexctl.tmp" "$out/dexctl"
    echo "Dex built in $(( $(date +%s) - start ))s: $out/dex" >&2
    # Keep only the newest few builds.
    ls -1dt "$root/.cache/dex"/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
  fi
}

cmd=${1:-}
case "$cmd" in
  up)
    dir=${2:?$usage}
    build
    exec "$out/dexctl" up --dir "$dir" --dex "$out/dex"
    ;;
  down)
    dir=${2:?$usage}
    # Stopping needs no build: any dexctl does, and none at all means nothing was started.
    ctl=$(ls -1dt "$root"/.cache/dex/*/dexctl 2>/dev/null | head -1 || true)
    if [ -z "$ctl" ]; then echo "no Dex built: nothing to stop"; exit 0; fi
    exec "$ctl" down --dir "$dir"
    ;;
  bin)
    build
    echo "$out/dex"
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac
