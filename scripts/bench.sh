#!/usr/bin/env bash
# make bench: the jitgate gateway side by side with kube-apiserver directly and `kubectl proxy`.
#
#   scripts/bench.sh [DIR]        (DIR defaults to .sandbox-bench; it is stopped again at the end)
#
# Builds the gateway and the bench client in release, starts a fresh sandbox in DIR with two
# release gateways in front of it (audit fsync on, the default, and off; no Dex: the bench
# authenticates with a client certificate), seeds it, starts `kubectl proxy`, and runs from one
# client process, endpoints interleaved (docs/benchmarks.md explains each):
#   1. GET latency of one pod (HTTP/1.1 and HTTP/2): direct (admin cert), direct-imp (exactly the
#      gateway's upstream request: its own cert and Impersonate-* headers), gateway and
#      gateway-nofsync (bench user's cert and grant), kubectl proxy (plain HTTP on loopback), with
#      the ratios the issue targets;
#   2. log throughput of a pod with a large log, with the bench client and with real kubectl;
#   3. stream throughput with real kubectl, direct, through the gateway and through the TCP
#      forwarder (l4-proxy): port-forward of BENCH_STREAM_BYTES (`GET /bytes` from a payments-api
#      pod's server, read by the bench client on the forwarded port), exec stdout of as many
#      bytes (`head -c N /dev/zero`, counted by the bench client), and exec stdin of
#      BENCH_STREAM_STDIN_BYTES (into `wc -c`), each over WebSocket and SPDY;
#   4. the criterion benches of authorization and of the gateway's fixed per-request costs
#      (client-certificate check, audit append), after the stack is stopped.
# Results are printed as Markdown and kept in DIR/results.md.
#
# Knobs (environment): BENCH_REQUESTS (2000), BENCH_WARMUP (200), BENCH_LOG_BYTES (198000000, a
# multiple of 99), BENCH_LOG_RUNS (3), BENCH_KUBECTL_RUNS (5), BENCH_AUDIT_FSYNC (true: the
# gateway's production default), BENCH_KUBECTL (kubectl.1.33 beside kubectl),
# BENCH_SKIP_CRITERION=1, BENCH_SKIP_LATENCY=1, BENCH_SKIP_LOGS=1, BENCH_SKIP_STREAMS=1,
# BENCH_STREAM_BYTES (1073741824), BENCH_STREAM_STDIN_BYTES (268435456), BENCH_STREAM_RUNS (3),
# BENCH_STREAM_TRANSPORTS (websocket,spdy), BENCH_STREAM_KINDS (port-forward,exec-stdout,
# exec-stdin), BENCH_STREAM_ENDPOINTS (direct,gateway,l4-proxy; gateway-nofsync may be added),
# BENCH_ENV_gateway and BENCH_ENV_gateway_nofsync (extra environment for one gateway), and
# BENCH_BIN_gateway and BENCH_BIN_gateway_nofsync (another jitgate binary for one gateway): for
# A/B runs in one bench.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/.sandbox-bench}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
case "$dir" in
"$root/.sandbox" | "$root/.sandbox-test" | "$root/.sandbox-gw")
  echo "bench: $dir belongs to another suite; use .sandbox-bench" >&2
  exit 2
  ;;
esac
requests=${BENCH_REQUESTS:-2000}
warmup=${BENCH_WARMUP:-200}
log_bytes=${BENCH_LOG_BYTES:-198000000}
log_runs=${BENCH_LOG_RUNS:-3}
kubectl_runs=${BENCH_KUBECTL_RUNS:-5}
fsync=${BENCH_AUDIT_FSYNC:-true}
stream_bytes=${BENCH_STREAM_BYTES:-1073741824}
stream_stdin_bytes=${BENCH_STREAM_STDIN_BYTES:-268435456}
stream_runs=${BENCH_STREAM_RUNS:-3}
stream_args=()
for t in $(tr ',' ' ' <<<"${BENCH_STREAM_TRANSPORTS:-websocket,spdy}"); do stream_args+=(--transport "$t"); done
for s in $(tr ',' ' ' <<<"${BENCH_STREAM_KINDS:-port-forward,exec-stdout,exec-stdin}"); do stream_args+=(--stream "$s"); done
if [ $((log_bytes % 99)) -ne 0 ]; then
  echo "bench: BENCH_LOG_BYTES must be a multiple of 99 (the log is folded into 100-byte lines)" >&2
  exit 2
fi
kdir=$(dirname "$(readlink -f "$(command -v kubectl)")")
kubectl=${BENCH_KUBECTL:-$kdir/kubectl.1.33}
[ -x "$kubectl" ] || { echo "bench: $kubectl not found (make tools)" >&2; exit 1; }

cd "$root"
echo "bench: building the gateway and the bench client in release" >&2
cargo build --release -p jitgate -p jitgate-bench
if [ -z "${BENCH_SKIP_CRITERION:-}" ]; then
  cargo bench -p jitgate-authz --bench authorize --no-run
  cargo bench -p jitgate-bench --bench request_path --no-run
fi
sandbox=$("$root/scripts/sandbox-bin.sh")
jitgate=$root/target/release/jitgate
bench=$root/target/release/jitgate-bench
admin_kc=$dir/admin.kubeconfig
k() { "$kubectl" --kubeconfig "$admin_kc" "$@"; }

gateway_pids=()
proxy_pid=""
l4_pid=""
stop_stack() {
  local pid
  for pid in $proxy_pid $l4_pid "${gateway_pids[@]}"; do
    { kill "$pid" && wait "$pid"; } 2>/dev/null || true
  done
  proxy_pid="" l4_pid="" gateway_pids=()
  "$sandbox" down --dir "$dir" >/dev/null 2>&1 || true
}
trap stop_stack EXIT

# --- the stack --------------------------------------------------------------------------------
started=$(date +%s)
"$sandbox" down --dir "$dir" >/dev/null 2>&1 || true
"$sandbox" up --dir "$dir"
"$sandbox" kubeconfig --dir "$dir" --user jitgate-gateway --out "$dir/gateway.kubeconfig"
# The bench user's own standing access, without jitgate: a certificate from the apiserver's client
# CA with the group the profile's RoleBinding names, so the same RBAC rules authorize it.
"$sandbox" kubeconfig --dir "$dir" --user bench --group jitgate:oncall-debug --out "$dir/direct-user.kubeconfig"
rm -rf "$dir/jitgate" && mkdir -p "$dir/jitgate"
export JITGATE_CA_DIR=$dir/jitgate/ca
# The shipped policy signs its webhook notifications with this key; nothing listens for them in
# the bench (no broker transitions are measured), but the gateway refuses to start without it.
JITGATE_WEBHOOK_SECRET=${JITGATE_WEBHOOK_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
export JITGATE_WEBHOOK_SECRET
# As scripts/stack.sh starts it, but the release build and no OIDC issuer. Two gateways: the
# production default (audit fsync on every request, or BENCH_AUDIT_FSYNC) and one without fsync,
# which prices the fsync. They share the CA (one client certificate works for both); each has
# its own grant store and audit log.
start_gateway() { # NAME FSYNC: sets url_NAME and admin_NAME
  local name=$1 fsync=$2 out=$dir/logs/$1.out pid extra_env
  # BENCH_ENV_gateway / BENCH_ENV_gateway_nofsync: extra VAR=value words for that gateway only
  # (e.g. BENCH_ENV_gateway_nofsync="TOKIO_WORKER_THREADS=1"), for A/B runs in one bench.
  extra_env=BENCH_ENV_${name//-/_}
  local bin_var=BENCH_BIN_${name//-/_}
  env ${!extra_env:-} "${!bin_var:-$jitgate}" serve \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --ca-dir "$JITGATE_CA_DIR" --data-dir "$dir/jitgate/$name" \
    --upstream-kubeconfig "$dir/gateway.kubeconfig" \
    --audit-fsync="$fsync" \
    </dev/null >"$out" 2>"$dir/logs/$name.log" &
  pid=$!
  gateway_pids+=("$pid")
  for _ in $(seq 100); do
    grep -q 'listening on' "$out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/logs/$name.log" >&2; exit 1; }
    sleep 0.1
  done
  printf -v "pid_${name//-/_}" '%s' "$pid"
  printf -v "url_${name//-/_}" '%s' "$(sed -n 's/.*listening on \(https:[^ ]*\) (admin \(http:[^)]*\)).*/\1/p' "$out")"
  printf -v "admin_${name//-/_}" '%s' "$(sed -n 's/.*listening on \(https:[^ ]*\) (admin \(http:[^)]*\)).*/\2/p' "$out")"
}
start_gateway gateway "$fsync"
start_gateway gateway-nofsync false
[ -n "$url_gateway" ] && [ -n "$url_gateway_nofsync" ] || { echo "bench: a gateway did not start" >&2; exit 1; }

"$sandbox" seed --dir "$dir"
"$jitgate" rbac render -n payments --gateway-user jitgate-gateway | k apply -f - >/dev/null
"$jitgate" cert issue --user bench --group sre --ttl 1h --out "$dir/bench-user" --server "$url_gateway" >/dev/null
sed "s|$url_gateway|$url_gateway_nofsync|" "$dir/bench-user/kubeconfig" >"$dir/bench-user/kubeconfig-nofsync"
grant=$("$jitgate" grant create --data-dir "$dir/jitgate/gateway" \
  --user bench --profile oncall-debug -n payments --for 1h --reason bench | sed -n 's/^\(g-[0-9a-f]*\) created.*/\1/p')
"$jitgate" grant create --data-dir "$dir/jitgate/gateway-nofsync" \
  --user bench --profile oncall-debug -n payments --for 1h --reason bench >/dev/null

# A pod whose log is log_bytes of 'x' in 99-character lines, then a line saying it is complete.
bench_marker=bench-log-done
expect_bytes=$((log_bytes + log_bytes / 99 + ${#bench_marker} + 1))
k -n payments delete pod bench-log --ignore-not-found --wait=true >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: bench-log, namespace: payments, labels: {app: bench-log}}
spec:
  containers:
  - name: log
    image: busybox
    command: ["sh", "-c", "head -c $log_bytes /dev/zero | tr '\\\\0' x | fold -w 99; echo; echo $bench_marker; sleep 3600"]
YAML
for i in $(seq 240); do
  [ "$(k -n payments logs bench-log --tail=1 2>/dev/null)" = "$bench_marker" ] && break
  [ "$i" -eq 240 ] && { echo "bench: pod bench-log did not finish writing its log in 2 minutes" >&2; exit 1; }
  sleep 0.5
done

"$kubectl" --kubeconfig "$admin_kc" proxy --port=0 >"$dir/logs/kubectl-proxy.out" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do
  grep -q 'Starting to serve on' "$dir/logs/kubectl-proxy.out" 2>/dev/null && break
  sleep 0.1
done
proxy_addr=$(sed -n 's/^Starting to serve on \(.*\)$/\1/p' "$dir/logs/kubectl-proxy.out")
[ -n "$proxy_addr" ] || { echo "bench: kubectl proxy did not start" >&2; cat "$dir/logs/kubectl-proxy.out" >&2; exit 1; }
proxy_url=http://$proxy_addr
# A byte-for-byte TCP forwarder in front of the apiserver, used with the admin kubeconfig: one
# more hop and nothing else, the floor for any gateway on this machine.
apiserver_hostport=$(sed -n 's|^ *server: https://\(.*\)$|\1|p' "$admin_kc" | head -1)
"$bench" tcp-proxy --to "$apiserver_hostport" >"$dir/logs/l4-proxy.out" 2>&1 &
l4_pid=$!
for _ in $(seq 50); do grep -q 'listening on' "$dir/logs/l4-proxy.out" 2>/dev/null && break; sleep 0.1; done
l4_addr=$(sed -n 's/^listening on \(.*\)$/\1/p' "$dir/logs/l4-proxy.out")
[ -n "$l4_addr" ] || { echo "bench: the TCP forwarder did not start" >&2; exit 1; }
sed "s|server: https://$apiserver_hostport|server: https://$l4_addr|" "$admin_kc" >"$dir/l4-proxy.kubeconfig"
pod=$(k -n payments get pods -l app=payments-api -o jsonpath='{.items[0].metadata.name}')
# Through each gateway with real kubectl once, so a broken grant fails here and not mid-bench
# (a new grant becomes usable at the gateway's next store poll, within 200 ms).
for kc in kubeconfig kubeconfig-nofsync; do
  for i in $(seq 20); do
    "$kubectl" --kubeconfig "$dir/bench-user/$kc" -n payments get pod "$pod" >/dev/null 2>&1 && break
    [ "$i" -eq 20 ] && { "$kubectl" --kubeconfig "$dir/bench-user/$kc" -n payments get pod "$pod"; exit 1; }
    sleep 0.2
  done
done
pid_of() { python3 -c 'import json,sys; print(next(p["pid"] for p in json.load(open(sys.argv[1]))["processes"] if p["name"]==sys.argv[2]))' "$dir/state.json" "$1"; }
apiserver_pid=$(pid_of kube-apiserver)
node_agent_pid=$(pid_of node-agent)
started_for=$(($(date +%s) - started))
echo "bench: stack ready in ${started_for}s: gateway $url_gateway (audit fsync $fsync), gateway-nofsync $url_gateway_nofsync, proxy $proxy_url, pod $pod" >&2

# --- measurements -----------------------------------------------------------------------------
measuring=$(date +%s)
results=$dir/results.md
impersonation=()
for h in 'Impersonate-User: bench' 'Impersonate-Group: jitgate:oncall-debug' \
  'Impersonate-Group: system:authenticated' "Impersonate-Extra-jitgate.dev%2fgrant: $grant" \
  'Impersonate-Extra-jitgate.dev%2fsession: s-bench000'; do
  impersonation+=(--header "direct-imp=$h")
done
{
  echo "## jitgate benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "- commit $(git -C "$root" rev-parse --short HEAD)$([ -z "$(git -C "$root" status --porcelain -- crates scripts)" ] || echo ' + uncommitted changes in crates/ or scripts/'), release builds"
  echo "- machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- kube-apiserver $(k version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(v1[^"]*\)".*/\1/p' | tail -1), gateway audit fsync: $fsync (gateway-nofsync: false), kubectl: $(basename "$kubectl")"
  echo "- endpoints: direct = apiserver with the admin client certificate; direct-imp = apiserver with the"
  echo "  gateway's own certificate and the Impersonate-* headers it sends (the apiserver's share of the cost);"
  echo "  gateway, gateway-nofsync = jitgate with the bench user's certificate and grant; proxy = kubectl proxy"
  echo
} | tee "$results"
[ -n "${BENCH_SKIP_LATENCY:-}" ] || "$bench" latency \
  --endpoint "direct=$admin_kc" --endpoint "direct-user=$dir/direct-user.kubeconfig" \
  --endpoint "direct-imp=$dir/gateway.kubeconfig" "${impersonation[@]}" \
  --endpoint "gateway=$dir/bench-user/kubeconfig" \
  --endpoint "gateway-nofsync=$dir/bench-user/kubeconfig-nofsync" \
  --endpoint "proxy=$proxy_url" \
  --endpoint "l4-proxy=$dir/l4-proxy.kubeconfig" \
  --path "/api/v1/namespaces/payments/pods/$pod" \
  --requests "$requests" --warmup "$warmup" \
  --gateway-metrics "$admin_gateway" \
  --cpu "gateway=$pid_gateway" --cpu "gateway-nofsync=$pid_gateway_nofsync" \
  --cpu "proxy=$proxy_pid" --cpu "l4-proxy=$l4_pid" --cpu "kube-apiserver=$apiserver_pid" \
  --check 'gateway/direct<=1.15' --check 'gateway/proxy<1' \
  --check 'gateway-nofsync/direct<=1.15' --check 'gateway-nofsync/proxy<1' \
  --check 'direct-imp/direct<=1.15' \
  --check 'gateway/direct-user<=1.15' --check 'gateway-nofsync/direct-user<=1.15' \
  --check 'direct-imp/direct-user<=1.15' | tee -a "$results"
[ -n "${BENCH_SKIP_LOGS:-}" ] || "$bench" logs \
  --endpoint "direct=$admin_kc" --endpoint "gateway=$dir/bench-user/kubeconfig" --endpoint "proxy=$proxy_url" \
  --namespace payments --pod bench-log --expect-bytes "$expect_bytes" \
  --runs "$log_runs" --kubectl "$kubectl" --kubectl-runs "$kubectl_runs" \
  --cpu "gateway=$pid_gateway" --cpu "proxy=$proxy_pid" \
  --cpu "kube-apiserver=$apiserver_pid" --cpu "node-agent=$node_agent_pid" \
  --check 'gateway/direct>=0.9' | tee -a "$results"
declare -A stream_kc=([direct]=$admin_kc [gateway]=$dir/bench-user/kubeconfig
  [gateway-nofsync]=$dir/bench-user/kubeconfig-nofsync [l4-proxy]=$dir/l4-proxy.kubeconfig)
declare -A stream_pid=([gateway]=$pid_gateway [gateway-nofsync]=$pid_gateway_nofsync [l4-proxy]=$l4_pid)
for e in $(tr ',' ' ' <<<"${BENCH_STREAM_ENDPOINTS:-direct,gateway,l4-proxy}"); do
  [ -n "${stream_kc[$e]:-}" ] || { echo "bench: BENCH_STREAM_ENDPOINTS: no endpoint $e (direct, gateway, gateway-nofsync, l4-proxy)" >&2; exit 2; }
  stream_args+=(--endpoint "$e=${stream_kc[$e]}")
  [ -z "${stream_pid[$e]:-}" ] || stream_args+=(--cpu "$e=${stream_pid[$e]}")
  case $e in gateway | gateway-nofsync) stream_args+=(--check "$e/direct>=0.9") ;; esac
done
[ -n "${BENCH_SKIP_STREAMS:-}" ] || "$bench" streams "${stream_args[@]}" \
  --kubectl "$kubectl" --namespace payments --pod "$pod" --port 8080 \
  --bytes "$stream_bytes" --stdin-bytes "$stream_stdin_bytes" --runs "$stream_runs" \
  --cpu "kube-apiserver=$apiserver_pid" --cpu "node-agent=$node_agent_pid" | tee -a "$results"
stop_stack

# Criterion, after the stack is down so the benches have the CPU to themselves.
criterion() { # PACKAGE BENCH
  cargo bench -q -p "$1" --bench "$2" 2>/dev/null |
    awk '/time:/ { sub(/^ */, ""); print (name == "" ? "" : name "  ") $0; name = ""; next }
         /^[a-z]/ { name = $0 }'
}
if [ -z "${BENCH_SKIP_CRITERION:-}" ]; then
  {
    echo "### Criterion micro-benchmarks (low / estimate / high of the mean time per iteration)"
    echo
    echo '```'
    echo "# cargo bench -p jitgate-authz --bench authorize"
    criterion jitgate-authz authorize
    echo "# cargo bench -p jitgate-bench --bench request_path"
    criterion jitgate-bench request_path
    echo '```'
    echo
  } | tee -a "$results"
fi
echo "bench: stack ${started_for}s, measurements $(($(date +%s) - measuring))s (criterion included); results in $results" >&2
