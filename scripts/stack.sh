#!/usr/bin/env bash
# The whole test stack in one folder: a sandbox cluster, Dex, and a jitgate gateway in front.
#
#   scripts/stack.sh up DIR     start all three (fresh), write DIR/jitgate/{url,admin-url}, env file
#   scripts/stack.sh down DIR   stop all three
#
# DIR/gateway.kubeconfig   the gateway's own identity (user jitgate-gateway, sandbox CA)
# DIR/jitgate/{ca,data}    the gateway's CA, grant store and audit log
# DIR/jitgate/env          JITGATE_* variables for the e2e tests (source it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: $0 up|down DIR}
dir=${2:?usage: $0 up|down DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=$("$root/scripts/sandbox-bin.sh")
jitgate="$root/target/debug/jitgate"

stop_sink() {
  local pid
  pid=$(cat "$dir/jitgate/sink.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'notification-sink'; then
    kill "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/jitgate/sink.pid"
}

stop_gateway() {
  local pid
  pid=$(cat "$dir/jitgate/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'jitgate serve'; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/jitgate/pid"
}

case "$cmd" in
down)
  stop_gateway
  stop_sink
  "$root/scripts/dex.sh" down "$dir" >/dev/null 2>&1 || true
  "$bin" down --dir "$dir"
  ;;
up)
  [ -x "$jitgate" ] && [ -x "$root/target/debug/kubectl-jit" ] || (cd "$root" && cargo build -p jitgate -p jitgate-cli)
  stop_gateway
  "$root/scripts/dex.sh" down "$dir" >/dev/null 2>&1 || true
  "$bin" down --dir "$dir" >/dev/null 2>&1 || true
  "$bin" up --dir "$dir" ${JITGATE_SANDBOX_UP_FLAGS:-}
  # Namespaces payments, checkout, ml-training with workloads, as the demo and the 2 AM story need.
  "$bin" seed --dir "$dir" >/dev/null
  "$root/scripts/dex.sh" up "$dir"
  "$bin" kubeconfig --dir "$dir" --user jitgate-gateway --out "$dir/gateway.kubeconfig"
  stop_sink
  rm -rf "$dir/jitgate" && mkdir -p "$dir/jitgate"
  # Notifications go to a local receiver that checks the webhook signatures.
  JITGATE_WEBHOOK_SECRET=${JITGATE_WEBHOOK_SECRET:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
  export JITGATE_WEBHOOK_SECRET
  setsid python3 "$root/scripts/notification-sink.py" "$dir/jitgate/sink.port" "$dir/jitgate/notifications.jsonl" \
    </dev/null >"$dir/logs/notification-sink.log" 2>&1 &
  echo $! >"$dir/jitgate/sink.pid"
  for _ in $(seq 50); do [ -s "$dir/jitgate/sink.port" ] && break; sleep 0.1; done
  sink_port=$(cat "$dir/jitgate/sink.port")
  # The shipped policy, copied so tests can edit it (the gateway reloads it when it validates),
  # with its notifications pointed at this stack's receiver.
  sed "s|http://127.0.0.1:9009/|http://127.0.0.1:$sink_port/|" "$root/examples/policy.yaml" >"$dir/jitgate/policy.yaml"
  # The on-call schedule the policy references, with people named as the sandbox's Dex names
  # them (by email): alice holds the primary rotation.
  mkdir -p "$dir/jitgate/oncall"
  sed 's/users: \[alice\]/users: [alice@example.com]/' "$root/examples/oncall/payments.yaml" >"$dir/jitgate/oncall/payments.yaml"
  grep -q 'alice@example.com' "$dir/jitgate/oncall/payments.yaml" ||
    { echo "stack: examples/oncall/payments.yaml no longer names alice; update scripts/stack.sh" >&2; exit 1; }
  setsid "$jitgate" serve \
    --policy "$dir/jitgate/policy.yaml" \
    --admin-group security \
    --oidc-client-secret "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clientSecret"])' "$dir/dex/client.json")" \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    --ca-dir "$dir/jitgate/ca" --data-dir "$dir/jitgate/data" \
    --upstream-kubeconfig "$dir/gateway.kubeconfig" \
    --oidc-issuer "$(cat "$dir/dex/issuer")" --oidc-client-id jitgate --oidc-ca-file "$dir/dex/ca.crt" \
    --audit-fsync="${JITGATE_AUDIT_FSYNC:-false}" \
    </dev/null >"$dir/logs/gateway.out" 2>"$dir/logs/gateway.log" &
  echo $! >"$dir/jitgate/pid"
  for _ in $(seq 100); do
    grep -q 'listening on' "$dir/logs/gateway.out" 2>/dev/null && break
    kill -0 "$(cat "$dir/jitgate/pid")" 2>/dev/null || { cat "$dir/logs/gateway.log" >&2; exit 1; }
    sleep 0.1
  done
  sed -n 's/.*listening on \(https:[^ ]*\) (admin \(http:[^)]*\)).*/\1/p' "$dir/logs/gateway.out" >"$dir/jitgate/url"
  sed -n 's/.*listening on \(https:[^ ]*\) (admin \(http:[^)]*\)).*/\2/p' "$dir/logs/gateway.out" >"$dir/jitgate/admin-url"
  cat >"$dir/jitgate/env" <<ENV
export JITGATE_SANDBOX_DIR=$dir
export JITGATE_DEX_DIR=$dir/dex
export JITGATE_BIN=$jitgate
export JITGATE_JIT_BIN=$root/target/debug/kubectl-jit
export JITGATE_GATEWAY_URL=$(cat "$dir/jitgate/url")
export JITGATE_GATEWAY_ADMIN_URL=$(cat "$dir/jitgate/admin-url")
export JITGATE_CA_DIR=$dir/jitgate/ca
export JITGATE_DATA_DIR=$dir/jitgate/data
export JITGATE_POLICY=$dir/jitgate/policy.yaml
export JITGATE_WEBHOOK_SECRET=$JITGATE_WEBHOOK_SECRET
export JITGATE_NOTIFICATIONS=$dir/jitgate/notifications.jsonl
ENV
  echo "stack up in $dir: gateway $(cat "$dir/jitgate/url") (admin $(cat "$dir/jitgate/admin-url")), Dex $(cat "$dir/dex/issuer")"
  ;;
*) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
