#!/usr/bin/env bash
# The 2 AM story as far as jitgate has come: a real control plane seeded like a production cluster,
# the jitgate gateway in front of it, and an on-call engineer who gets just-in-time access to one
# namespace — and loses it the moment it is revoked.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: $0 SANDBOX_DIR}
"$root/scripts/stack.sh" up "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/jitgate/env"
"$("$root/scripts/sandbox-bin.sh")" seed --dir "$dir" >/dev/null

admin="$dir/admin.kubeconfig"
kdir=$(dirname "$(readlink -f "$(command -v kubectl)")")
bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
say() { printf '\n%s▸ %s%s\n' "$bold" "$*" "$off"; }
run() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@"; }
try() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; "$@" || true; }

say "A real kube-apiserver $(kubectl --kubeconfig "$admin" version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'), etcd, a controller-manager and a node agent on loopback; jitgate in front at $JITGATE_GATEWAY_URL"
run kubectl --kubeconfig "$admin" get nodes

say "The platform team renders least-privilege RBAC from the profiles: Roles bound to the group jitgate:oncall-debug, never to a person"
"$JITGATE_BIN" rbac render -n payments -n checkout -n ml-training --gateway-user jitgate-gateway |
  kubectl --kubeconfig "$admin" apply -f - | sed 's/^/  /' | head -4
echo "  …"

say "02:04 — payments pages alice. She has a short-lived certificate from the jitgate CA (1h), no standing access"
"$JITGATE_BIN" cert issue --user alice --group oncall-payments --ttl 1h --out "$dir/alice" --server "$JITGATE_GATEWAY_URL" --namespace payments
alice=(--kubeconfig "$dir/alice/kubeconfig")
try "$kdir/kubectl.1.33" "${alice[@]}" -n payments get pods

say "She gets a 30-minute grant for the oncall-debug profile in payments (the broker and on-call auto-approval come next)"
run "$JITGATE_BIN" grant create --user alice --profile oncall-debug -n payments --for 30m --reason "INC-4211 payments 5xx"
sleep 0.5

say "Plain kubectl — the old 1.27 (SPDY) and the new 1.33 (WebSocket) — now works in payments"
run "$kdir/kubectl.1.33" "${alice[@]}" -n payments get deploy,pods
worker=$(kubectl "${alice[@]}" -n payments get pods -l app=payments-worker -o jsonpath='{.items[0].metadata.name}')
api=$(kubectl "${alice[@]}" -n payments get pods -l app=payments-api -o jsonpath='{.items[0].metadata.name}')
run "$kdir/kubectl.1.33" "${alice[@]}" -n payments logs "$worker" --tail=3
run "$kdir/kubectl.1.27" "${alice[@]}" -n payments exec "$worker" -- sh -c 'echo "hello from $POD_NAME"'
run "$kdir/kubectl.1.33" "${alice[@]}" -n payments exec "$worker" -- sh -c 'echo "hello from $POD_NAME"'
"$kdir/kubectl.1.33" "${alice[@]}" -n payments port-forward "$api" 0:8080 >"$dir/demo-pf.log" 2>&1 &
pf=$!
for _ in $(seq 50); do grep -q 'Forwarding from 127.0.0.1' "$dir/demo-pf.log" && break; sleep 0.1; done
port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) .*/\1/p' "$dir/demo-pf.log" | head -1)
run curl -s "http://127.0.0.1:$port/"
kill "$pf" 2>/dev/null || true

say "Kubernetes sees alice herself (impersonated), with the grant and session in its audit log"
run "$kdir/kubectl.1.33" "${alice[@]}" auth whoami

say "Outside her grant, and anything pretending to be someone else, is refused — with a reason"
try "$kdir/kubectl.1.33" "${alice[@]}" -n checkout get pods
try "$kdir/kubectl.1.33" "${alice[@]}" -n payments get secrets
try "$kdir/kubectl.1.33" "${alice[@]}" -n payments get pods --as=system:admin

say "02:31 — the incident is closed; security revokes the grant while alice still has a log stream open"
"$kdir/kubectl.1.33" "${alice[@]}" -n payments logs -f "$worker" --tail=1 >"$dir/demo-follow.log" 2>&1 &
follow=$!
sleep 1.5
run "$JITGATE_BIN" grant revoke "$("$JITGATE_BIN" grant list -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" --reason "INC-4211 resolved" --by security
wait "$follow" 2>/dev/null || true
printf '%s(alice'"'"'s logs -f ended:)%s\n' "$dim" "$off"; tail -2 "$dir/demo-follow.log"
try "$kdir/kubectl.1.33" "${alice[@]}" -n payments get pods

say "Every decision is in a hash-chained audit log"
tail -4 "$JITGATE_DATA_DIR/audit.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    print("  {} {:<11} {:<6} {:<6} {:<8} {:<10} {}".format(e["time"], e["kind"], e.get("user","-"), e.get("decision","-"), e.get("verb","-"), e.get("namespace","-"), (e.get("reason") or "")[:70]))'
run "$JITGATE_BIN" audit verify

cat <<MSG

${bold}The sandbox and the gateway stay up.${off}
  kubectl --kubeconfig $dir/alice/kubeconfig -n payments get pods     # as alice, through jitgate
  kubectl --kubeconfig $admin get pods -A                              # as cluster-admin, direct
  make sandbox-down                                                    # stop everything
${dim}Not built yet: kubectl jit login/request with OIDC and on-call approval, exec guards, session
recording, terminating streams in the gateway. See README.md.${off}
MSG
