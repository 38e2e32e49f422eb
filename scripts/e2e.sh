#!/usr/bin/env bash
# Starts a fresh sandbox in DIR with Dex (a real OIDC provider) and a jitgate gateway in front of
# it, runs the end-to-end suites with every kubectl in $JITGATE_KUBECTL_VERSIONS, prints what the
# control plane cost, and stops everything again.
#
# The gateway under test:
#   DIR/gateway.kubeconfig   the gateway's own identity (user jitgate-gateway, sandbox CA)
#   DIR/jitgate/{ca,data}    its CA, grant store and audit log
#   DIR/jitgate/url          https://127.0.0.1:PORT ; DIR/jitgate/admin-url for health/metrics
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: $0 SANDBOX_DIR}
bin=$("$root/scripts/sandbox-bin.sh")
jitgate="$root/target/debug/jitgate"
[ -x "$jitgate" ] || (cd "$root" && cargo build -p jitgate)

gateway_pid=""
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
  "$root/scripts/dex.sh" down "$dir" >/dev/null 2>&1 || true
  "$bin" down --dir "$dir" || true
}
"$root/scripts/dex.sh" down "$dir" >/dev/null 2>&1 || true
"$bin" down --dir "$dir" >/dev/null 2>&1 || true
trap cleanup EXIT
"$bin" up --dir "$dir"
"$root/scripts/dex.sh" up "$dir"

# The gateway: its own identity towards the apiserver, and fresh state.
"$bin" kubeconfig --dir "$dir" --user jitgate-gateway --out "$dir/gateway.kubeconfig"
rm -rf "$dir/jitgate" && mkdir -p "$dir/jitgate"
"$jitgate" serve \
  --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --ca-dir "$dir/jitgate/ca" --data-dir "$dir/jitgate/data" \
  --upstream-kubeconfig "$dir/gateway.kubeconfig" \
  --oidc-issuer "$(cat "$dir/dex/issuer")" --oidc-client-id jitgate --oidc-ca-file "$dir/dex/ca.crt" \
  --audit-fsync=false \
  >"$dir/logs/gateway.out" 2>"$dir/logs/gateway.log" &
gateway_pid=$!
for _ in $(seq 100); do
  grep -q 'listening on' "$dir/logs/gateway.out" 2>/dev/null && break
  kill -0 "$gateway_pid" 2>/dev/null || { cat "$dir/logs/gateway.log" >&2; exit 1; }
  sleep 0.1
done
sed -n 's/.*listening on \(https:[^ ]*\) (admin \(http:[^)]*\)).*/\1/p' "$dir/logs/gateway.out" >"$dir/jitgate/url"
sed -n 's/.*listening on \(https:[^ ]*\) (admin \(http:[^)]*\)).*/\2/p' "$dir/logs/gateway.out" >"$dir/jitgate/admin-url"
echo "gateway at $(cat "$dir/jitgate/url") (admin $(cat "$dir/jitgate/admin-url"))"

export JITGATE_SANDBOX_DIR=$dir JITGATE_DEX_DIR=$dir/dex JITGATE_BIN=$jitgate
cd "$root"
# One filter per selected kubectl version, so only the cases that run a real kubectl are counted.
filters=()
IFS=, read -ra versions <<<"${JITGATE_KUBECTL_VERSIONS:-1.27,1.33}"
for v in "${versions[@]}"; do filters+=("kubectl_${v//./_}"); done
cargo test -p jitgate-e2e --test smoke -- --ignored --test-threads="${E2E_THREADS:-4}" "${filters[@]}"
if [ -f crates/e2e/tests/gateway.rs ]; then
  cargo test -p jitgate-e2e --test gateway -- --ignored --test-threads="${E2E_THREADS:-4}"
fi
cargo test -p jitgate-oidc --test dex -- --ignored
cargo test -p jitgate-rbac -- --ignored

echo "--- sandbox resource use after the suites (VmRSS now / VmHWM peak) ---"
python3 - "$dir/state.json" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
print(f"sandbox up took {state['readyAfterMillis']/1000:.1f}s")
for p in state["processes"]:
    fields = {}
    try:
        for line in open(f"/proc/{p['pid']}/status"):
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    except OSError:
        print(f"{p['name']:<24} not running"); continue
    print(f"{p['name']:<24} rss {fields.get('VmRSS','?'):>12}  peak {fields.get('VmHWM','?'):>12}")
PY
