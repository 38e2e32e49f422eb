#!/usr/bin/env bash
# Starts the test stack in DIR (a fresh sandbox cluster, Dex, and a jitgate gateway in front; see
# scripts/stack.sh), runs the end-to-end suites with every kubectl in $JITGATE_KUBECTL_VERSIONS,
# prints what the control plane cost, and stops everything again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: $0 SANDBOX_DIR}

# PostgreSQL for the cases with gateway replicas on a shared store.
pg="$dir-postgres"
trap '"$root/scripts/stack.sh" down "$dir" || true; "$root/scripts/postgres.sh" down "$pg" || true' EXIT
rm -rf "$pg"
"$root/scripts/postgres.sh" up "$pg"
JITGATE_TEST_POSTGRES_URL=$(cat "$pg/url")
export JITGATE_TEST_POSTGRES_URL
"$root/scripts/stack.sh" up "$dir"
# shellcheck disable=SC1091
source "$dir/jitgate/env"

cd "$root"
# One filter per selected kubectl version, so only the cases that run a real kubectl are counted.
filters=()
IFS=, read -ra versions <<<"${JITGATE_KUBECTL_VERSIONS:-1.27,1.31,1.33}"
for v in "${versions[@]}"; do filters+=("kubectl_${v//./_}"); done
threads=${E2E_THREADS:-4}
cargo test -p jitgate-e2e --test smoke -- --ignored --test-threads="$threads" "${filters[@]}"
if [ -f crates/e2e/tests/gateway.rs ]; then
  cargo test -p jitgate-e2e --test gateway -- --ignored --test-threads="$threads" \
    "${filters[@]}" refused:: oidc:: admin:: streams:: policy::
fi
# The 2 AM story: Dex logins, kubectl jit request/approve, plain kubectl, expiry, audit.
cargo test -p jitgate-e2e --test story -- --ignored --nocapture
# The SPDY connection against real spdystream peers: the apiserver and the kubelet behind it
# (exec, port-forward, the WebSocket tunnel), and kubectl 1.27 as a client.
cargo test -p jitgate-spdy --test sandbox --test kubectl -- --ignored
cargo test -p jitgate-oidc --test dex -- --ignored
cargo test -p jitgate-rbac -- --ignored
"$JITGATE_BIN" audit verify --data-dir "$JITGATE_DATA_DIR"
# Every refusal of the run, exported from the verified chain (the file exists only if it holds).
"$JITGATE_BIN" audit export --data-dir "$JITGATE_DATA_DIR" --decision deny --out "$dir/denials.jsonl"

# A second, SPDY-only cluster (the apiserver passes WebSocket upgrades through, the node agent
# refuses them): the gateway's upstream SPDY fallback against a real refusal.
legacy="$dir-legacy"
trap '"$root/scripts/stack.sh" down "$dir" || true; "$root/scripts/stack.sh" down "$legacy" || true; "$root/scripts/postgres.sh" down "$pg" || true' EXIT
(
  JITGATE_SANDBOX_UP_FLAGS=--legacy-streaming "$root/scripts/stack.sh" up "$legacy"
  # shellcheck disable=SC1091
  source "$legacy/jitgate/env"
  cargo test -p jitgate-e2e --test gateway -- --ignored fallback::
  "$JITGATE_BIN" audit verify --data-dir "$JITGATE_DATA_DIR"
)
"$root/scripts/stack.sh" down "$legacy"

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
