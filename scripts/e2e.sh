#!/usr/bin/env bash
# Starts a fresh sandbox in DIR, runs the kubectl smoke suite against it with every kubectl in
# $JITGATE_KUBECTL_VERSIONS, prints what the control plane cost, and stops the sandbox again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: $0 SANDBOX_DIR}
bin=$("$root/scripts/sandbox-bin.sh")

"$bin" down --dir "$dir" >/dev/null 2>&1 || true
trap '"$bin" down --dir "$dir" || true' EXIT
"$bin" up --dir "$dir"

export JITGATE_SANDBOX_DIR=$dir
cd "$root"
# One filter per selected kubectl version, so only the cases that run a real kubectl are counted.
filters=()
IFS=, read -ra versions <<<"${JITGATE_KUBECTL_VERSIONS:-1.27,1.33}"
for v in "${versions[@]}"; do filters+=("kubectl_${v//./_}"); done
cargo test -p jitgate-e2e -- --ignored --test-threads="${E2E_THREADS:-4}" "${filters[@]}"

echo "--- sandbox resource use after the suite (VmRSS now / VmHWM peak) ---"
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
