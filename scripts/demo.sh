#!/usr/bin/env bash
# The demo on the sandbox as it stands today: a real control plane, seeded like a production
# cluster during an incident, and a first look around with the kubectl versions people have.
set -euo pipefail
dir=${1:?usage: $0 SANDBOX_DIR}
kubeconfig="$dir/admin.kubeconfig"
kdir=$(dirname "$(readlink -f "$(command -v kubectl)")")
bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
say() { printf '\n%s▸ %s%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }

say "A real kube-apiserver $(kubectl --kubeconfig "$kubeconfig" version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])') with etcd, a controller-manager and a node agent, on loopback"
run kubectl --kubeconfig "$kubeconfig" get nodes -o wide

say "It is 2 AM and payments is paging. What runs there?"
run kubectl --kubeconfig "$kubeconfig" -n payments get deployments,replicasets,pods,services

pod=$(kubectl --kubeconfig "$kubeconfig" -n payments get pods -l app=payments-worker -o jsonpath='{.items[0].metadata.name}')
api=$(kubectl --kubeconfig "$kubeconfig" -n payments get pods -l app=payments-api -o jsonpath='{.items[0].metadata.name}')
say "The worker's recent logs"
run kubectl --kubeconfig "$kubeconfig" -n payments logs "$pod" --tail=5

say "exec with the oldest kubectl people still have (1.27, SPDY) and the newest (1.33, WebSocket)"
run "$kdir/kubectl.1.27" --kubeconfig "$kubeconfig" -n payments exec "$pod" -- echo hi
run "$kdir/kubectl.1.33" --kubeconfig "$kubeconfig" -n payments exec "$pod" -- echo hi

say "port-forward to the payments API and ask it something"
"$kdir/kubectl.1.33" --kubeconfig "$kubeconfig" -n payments port-forward "$api" 0:8080 >"$dir/demo-pf.log" 2>&1 &
pf=$!
for _ in $(seq 50); do grep -q 'Forwarding from 127.0.0.1' "$dir/demo-pf.log" && break; sleep 0.1; done
port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) .*/\1/p' "$dir/demo-pf.log" | head -1)
run curl -s "http://127.0.0.1:$port/"
kill "$pf" 2>/dev/null || true

cat <<MSG

${bold}The sandbox is running and stays up.${off} Point kubectl at it:
  export KUBECONFIG=$kubeconfig
  kubectl -n payments exec $pod -- echo hi
Stop it with: make sandbox-down

${dim}Today this is cluster-admin on purpose: it is the ground jitgate is built on. The gateway
(identity, grants, guarded exec, recording, cut-off at expiry) is not built yet; see README.md.${off}
MSG
