#!/usr/bin/env bash
# The 2 AM story on a real control plane: Dex logins, kubectl jit requests and approvals, plain
# kubectl through the jitgate gateway (SQLite store), a running exec cut at expiry, and the audit
# trail. Narrated on the terminal; everything stays up afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: $0 SANDBOX_DIR}
"$root/scripts/stack.sh" up "$dir" >/dev/null
# shellcheck disable=SC1091
source "$dir/jitgate/env"

admin="$dir/admin.kubeconfig"
kdir=$(dirname "$(readlink -f "$(command -v kubectl)")")
export PATH="$(dirname "$JITGATE_JIT_BIN"):$PATH"   # kubectl finds the kubectl-jit plugin here
bold=$'\e[1m'; dim=$'\e[2m'; off=$'\e[0m'
say() { printf '\n%s▸ %s%s\n' "$bold" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; }
run() { show "$*"; "$@"; }
try() { show "$*"; "$@" || true; }
dex_ca=$JITGATE_DEX_DIR/ca.crt

# One person: their own kubectl jit cache and kubeconfig (as on their own laptop).
person() { mkdir -p "$dir/people/$1"; }
as() { # NAME CMD...: run CMD with NAME's credential cache and kubeconfig
  local home="$dir/people/$1"; shift
  JITGATE_CACHE_DIR="$home/cache" KUBECONFIG="$home/kubeconfig" "$@"
}
jit() { # NAME ARGS...
  local who=$1; shift
  as "$who" kubectl-jit --server "$JITGATE_GATEWAY_URL" --ca-file "$JITGATE_CA_DIR/ca.crt" "$@"
}
login_device() { # NAME EMAIL PASSWORD: the device-code flow; the "phone" is scripts/dex-login.py
  local who=$1 email=$2 password=$3 log="$dir/people/$1/login.log"
  show "kubectl jit login --device-code    ${dim}(as $email)"
  jit "$who" login --device-code >"$log.out" 2>"$log" &
  local pid=$!
  for _ in $(seq 100); do grep -q '(or open' "$log" 2>/dev/null && break; sleep 0.1; done
  sed -n '1p' "$log" | sed 's/^/  /'
  local url
  url=$(sed -n 's/^(or open \(.*\))$/\1/p' "$log")
  printf '%s  (%s opens the link on her phone and logs in to Dex)%s\n' "$dim" "$email" "$off"
  python3 "$root/scripts/dex-login.py" "$url" "$email" "$password" "$dex_ca"
  wait "$pid"
  sed 's/^/  /' "$log.out"
}
login_browser() { # NAME EMAIL PASSWORD: code + PKCE on a loopback redirect; the "browser" is scripted
  local who=$1 email=$2 password=$3 log="$dir/people/$1/login.log"
  show "kubectl jit login    ${dim}(as $email; the browser opens Dex's login page)"
  jit "$who" login --no-browser >"$log.out" 2>"$log" &
  local pid=$!
  for _ in $(seq 100); do grep -q 'code_challenge=' "$log" 2>/dev/null && break; sleep 0.1; done
  python3 "$root/scripts/dex-login.py" "$(grep -o 'https://[^ ]*code_challenge=[^ ]*' "$log" | head -1)" "$email" "$password" "$dex_ca"
  wait "$pid"
  sed 's/^/  /' "$log.out"
}

say "A real kube-apiserver $(kubectl --kubeconfig "$admin" version -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'), etcd, a controller-manager and a node agent on loopback; Dex as the identity provider; jitgate in front at $JITGATE_GATEWAY_URL"
run kubectl --kubeconfig "$admin" -n payments get deploy

say "The platform team reviews one policy file in Git: lint it, test it, render least-privilege RBAC from it (Roles bound to jitgate:<profile> groups, never to a person)"
run "$JITGATE_BIN" policy lint "$JITGATE_POLICY"
run "$JITGATE_BIN" policy test "$JITGATE_POLICY" "$root/examples/policy-tests.yaml" | tail -3
"$JITGATE_BIN" rbac render --policy "$JITGATE_POLICY" --gateway-user jitgate-gateway |
  kubectl --kubeconfig "$admin" apply -f - | sed 's/^/  /' | head -5
echo "  …"

for p in alice bob carol dave; do person "$p"; done

say "02:04 — payments pages alice, who is on call. She logs in (OIDC device code) and gets an 8-hour certificate; the key never leaves her laptop"
login_device alice alice@example.com alice-password
jit alice kubeconfig -n payments >/dev/null
try as alice "$kdir/kubectl.1.33" get pods

say "She asks for the oncall-debug profile in payments. She is on call (schedule payments-primary), so it is approved at once"
start=$(date +%s%N)
run jit alice request oncall-debug -n payments --for 30m --reason "INC-4211 payments 5xx" --wait
until as alice "$kdir/kubectl.1.33" get pods >/dev/null 2>&1; do sleep 0.05; done
printf '%s  (from request to a usable grant: %d ms)%s\n' "$dim" $(( ($(date +%s%N) - start) / 1000000 )) "$off"

say "Plain kubectl — 1.33 (WebSocket) and 1.27 (SPDY) — works now; the gateway terminates every stream, records who did what, and can cut it"
worker=$(as alice kubectl get pods -l app=payments-worker -o jsonpath='{.items[0].metadata.name}')
api=$(as alice kubectl get pods -l app=payments-api -o jsonpath='{.items[0].metadata.name}')
run as alice "$kdir/kubectl.1.33" logs "$worker" --tail=3
run as alice "$kdir/kubectl.1.33" exec "$worker" -- sh -c 'echo "hello from $POD_NAME"'
run as alice "$kdir/kubectl.1.27" exec "$worker" -- sh -c 'echo "hello again, over SPDY"'
JITGATE_CACHE_DIR="$dir/people/alice/cache" KUBECONFIG="$dir/people/alice/kubeconfig" \
  "$kdir/kubectl.1.33" port-forward "$api" 0:8080 >"$dir/demo-pf.log" 2>&1 &
pf=$!
for _ in $(seq 50); do grep -q 'Forwarding from 127.0.0.1' "$dir/demo-pf.log" && break; sleep 0.1; done
port=$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) .*/\1/p' "$dir/demo-pf.log" | head -1)
run curl -s "http://127.0.0.1:$port/"
echo
kill "$pf" 2>/dev/null || true
run as alice "$kdir/kubectl.1.33" auth whoami

say "Outside her grant, and anything pretending to be someone else, is refused — with a reason"
try as alice "$kdir/kubectl.1.33" -n checkout get pods
try as alice "$kdir/kubectl.1.33" get secrets
try as alice "$kdir/kubectl.1.33" get pods --as=system:admin

say "Inside her grant, the exec guard still decides what runs: the profile's command list, parsed shell scripts, deny patterns"
try as alice "$kdir/kubectl.1.33" exec "$worker" -- cat /etc//shadow
try as alice "$kdir/kubectl.1.33" exec "$worker" -- sh -c 'ps aux; rm -rf /tmp/cache'
try as alice "$kdir/kubectl.1.33" exec "$worker" -- sh -c 'echo $(cat /etc/shadow)'

say "kubectl cp is tar under the hood: the profile says which paths may leave the pod (/tmp, /var/log) and where files may land (/tmp)"
as alice "$kdir/kubectl.1.33" exec "$worker" -- sh -c 'echo "heap summary at 02:14" > /tmp/jitgate-demo-dump.txt'
run as alice "$kdir/kubectl.1.33" cp "$worker:/tmp/jitgate-demo-dump.txt" "$dir/people/alice/dump.txt"
sed 's/^/  /' "$dir/people/alice/dump.txt"
try as alice "$kdir/kubectl.1.33" cp "$worker:/etc/hostname" "$dir/people/alice/hostname"
try as alice "$kdir/kubectl.1.33" cp "$dir/people/alice/dump.txt" "$worker:/etc/motd"

say "02:20 — bob, not on call, also wants to look. He logs in (browser, code + PKCE) and asks; his request waits for an approver"
login_browser bob bob@example.com bob-password
jit bob kubeconfig -n payments >/dev/null
req=$(jit bob request oncall-debug -n payments --for 1m --reason "INC-4212 slow checkout" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
run jit bob ls
say "bob cannot approve his own request"
try jit bob approve "$req"
printf '%s  (the approvers were notified; the local webhook receiver checked the signature of each:)%s\n' "$dim" "$off"
python3 - "$JITGATE_NOTIFICATIONS" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    n = json.loads(line)
    b = n["body"] if isinstance(n["body"], dict) else {}
    sig = "signature verified" if n["verified"] else ("" if n["verified"] is None else "BAD SIGNATURE")
    print("    POST {:<7} {:<18} {}  {}".format(n["path"], b.get("event", "-"), b.get("summary", "")[:80], sig))
PY

say "carol leads payments: she logs in, sees the request, and approves it"
login_device carol carol@example.com carol-password
run jit carol ls
run jit carol approve "$req" --comment "go ahead, watch the error rate"
until as bob "$kdir/kubectl.1.33" get pods >/dev/null 2>&1; do sleep 0.1; done

say "bob's grant lasts one minute. He starts a long exec; when the grant expires the gateway cuts it and says why"
show "kubectl exec $worker -- sh -c 'echo started; sleep 600'"
as bob "$kdir/kubectl.1.33" exec "$worker" -- sh -c 'echo started; sleep 600' 2>&1 | sed 's/^/  /' || true
try as bob "$kdir/kubectl.1.33" get pods

say "The morning after, carol replays what bob did: every exec is recorded, and approvers may replay anyone's"
run jit carol sessions --all
cut=$(jit bob sessions -o json | python3 -c 'import json,sys; print(next(s["id"] for s in json.load(sys.stdin)["items"] if "sleep 600" in s["command"]))')
run jit carol play "$cut" --speed 0 --input
say "alice approves nothing: bob's session is not hers to replay"
try jit alice play "$cut"

say "Every decision and transition is in the hash-chained audit log"
python3 - "$JITGATE_DATA_DIR/audit.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    k = e["kind"]
    if k in ("request", "response") and not (k == "request" and e.get("decision") == "deny"):
        continue
    print("  {} {:<16} {:<18} {:<5} {}".format(e["time"][11:23], k, (e.get("user") or "-")[:18],
          e.get("decision", "-"), (e.get("reason") or e.get("subresource") or e.get("resource") or "")[:90]))
PY
run "$JITGATE_BIN" audit verify

cat <<MSG

${bold}The sandbox, Dex and the gateway stay up.${off}
  export PATH=$(dirname "$JITGATE_JIT_BIN"):\$PATH
  JITGATE_CACHE_DIR=$dir/people/alice/cache kubectl --kubeconfig $dir/people/alice/kubeconfig get pods   # as alice
  kubectl --kubeconfig $admin get pods -A                                                             # as cluster-admin, direct
  make sandbox-down                                                                                   # stop everything
MSG
