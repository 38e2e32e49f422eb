#!/usr/bin/env bash
# Exec start-up latency: `kubectl exec POD -- true`, direct to the apiserver and through the
# gateway, interleaved run by run, for each kubectl version; prints the mean wall time per exec
# (process start to exit) and the ratio. This is the cost a short command pays: the gateway's
# session set-up, the exec guard, and, for WebSocket kubectl < 1.34, the 30 ms hold of the first
# message (docs/benchmarks.md, "Exec start-up").
#
#   scripts/bench-exec-startup.sh [DIR]     (DIR defaults to .sandbox-exec-bench; started and stopped here)
#
# Knobs: BENCH_EXEC_RUNS (30), BENCH_EXEC_VERSIONS (1.27,1.31,1.33).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/.sandbox-exec-bench}
runs=${BENCH_EXEC_RUNS:-30}
IFS=, read -ra versions <<<"${BENCH_EXEC_VERSIONS:-1.27,1.31,1.33}"
kdir=$(dirname "$(readlink -f "$(command -v kubectl)")")

mkdir -p "$dir"
"$root/scripts/stack.sh" up "$dir" >"$dir/stack.log" 2>&1 || { cat "$dir/stack.log"; exit 1; }
trap '"$root/scripts/stack.sh" down "$dir" >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1091
source "$dir/jitgate/env"
admin=$dir/admin.kubeconfig
k() { "$kdir/kubectl.1.33" --kubeconfig "$admin" "$@"; }
"$JITGATE_BIN" rbac render --policy "$JITGATE_POLICY" -n payments --gateway-user jitgate-gateway | k apply -f - >/dev/null
"$JITGATE_BIN" cert issue --user exec-bench --group sre --ttl 1h --out "$dir/exec-bench" \
  --server "$JITGATE_GATEWAY_URL" --namespace payments >/dev/null
"$JITGATE_BIN" grant create --user exec-bench --profile oncall-debug -n payments --for 1h \
  --reason "exec start-up bench" >/dev/null
pod=$(k -n payments get pods -l app=payments-api -o jsonpath='{.items[0].metadata.name}')
k -n payments wait --for=condition=Ready "pod/$pod" --timeout=60s >/dev/null
gateway=$dir/exec-bench/kubeconfig
until "$kdir/kubectl.1.33" --kubeconfig "$gateway" -n payments get pod "$pod" >/dev/null 2>&1; do sleep 0.1; done

one() { # KUBECTL KUBECONFIG -> milliseconds
  local start end
  start=$(date +%s%N)
  "$1" --kubeconfig "$2" -n payments exec "$pod" -- true
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}

echo "| kubectl | transport | direct ms | gateway ms | gateway/direct |"
echo "|---|---|---:|---:|---:|"
for v in "${versions[@]}"; do
  kubectl_bin=$kdir/kubectl.$v
  minor=${v#1.}
  transport=SPDY
  [ "$minor" -ge 30 ] && transport=WebSocket
  "$kubectl_bin" --kubeconfig "$admin" -n payments exec "$pod" -- true # warm-up
  "$kubectl_bin" --kubeconfig "$gateway" -n payments exec "$pod" -- true
  direct=0 through=0
  for _ in $(seq "$runs"); do
    direct=$((direct + $(one "$kubectl_bin" "$admin")))
    through=$((through + $(one "$kubectl_bin" "$gateway")))
  done
  awk -v v="$v" -v t="$transport" -v d="$direct" -v g="$through" -v n="$runs" \
    'BEGIN { printf "| %s | %s | %.1f | %.1f | %.3f |\n", v, t, d/n/1000, g/n/1000, g/d }'
done
