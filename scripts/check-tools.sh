#!/usr/bin/env bash
# Checks (and where it can, installs) what the Makefile needs, with a message saying what to do.
set -euo pipefail
missing=0
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "missing: $1 — $2" >&2
    missing=1
  fi
}
apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing $* from Debian's packages" >&2
    (apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1) ||
      (apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "$@" >/dev/null)
  fi
}
need go "install Go 1.26 or newer (https://go.dev/dl)"
need cargo "install Rust with rustup (stable, 1.85 or newer)"
for tool in tar script; do
  command -v "$tool" >/dev/null 2>&1 || apt_install "$( [ "$tool" = script ] && echo bsdutils || echo tar )"
done
need tar "install tar (kubectl cp runs tar inside the pod)"
command -v cargo >/dev/null 2>&1 && { cargo clippy --version >/dev/null 2>&1 || rustup component add clippy rustfmt >/dev/null 2>&1 || true; }

kubectl_dir=""
if command -v kubectl >/dev/null 2>&1; then
  kubectl_dir=$(dirname "$(readlink -f "$(command -v kubectl)")")
fi
IFS=, read -ra versions <<<"${JITGATE_KUBECTL_VERSIONS:-1.27,1.31,1.33}"
for v in "${versions[@]}"; do
  if [ -z "$kubectl_dir" ] || [ ! -x "$kubectl_dir/kubectl.$v" ]; then
    echo "missing: kubectl.$v beside kubectl (looked in ${kubectl_dir:-<no kubectl on PATH>}) — the tests run real kubectl $v" >&2
    missing=1
  fi
done
if [ "$missing" != 0 ]; then
  echo "install the tools above, then run make again" >&2
  exit 1
fi
