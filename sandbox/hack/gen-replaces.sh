#!/usr/bin/env bash
# Regenerates the `replace` block of sandbox/go.mod from the k8s.io/kubernetes module's own go.mod.
#
# k8s.io/kubernetes points every staging module (k8s.io/api, k8s.io/apiserver, ...) at
# ./staging/src/..., which only exists in its own repository. A module that imports it must
# replace each of them with the published v0.X.Y that matches v1.X.Y. The list is read from the
# release's go.mod so a release bump never needs a hand-edited list.
#
# usage: hack/gen-replaces.sh v1.37.2
set -euo pipefail
version=${1:?usage: $0 v1.MINOR.PATCH}
staging_version="v0.${version#v1.}"
cd "$(dirname "$0")/.."

modfile=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$modfile" ] || { echo "could not download the go.mod of k8s.io/kubernetes@${version}" >&2; exit 1; }

staging=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9.-]*\) => \./staging/src/.*#\1#p' "$modfile" | sort -u)
[ -n "$staging" ] || { echo "no staging replaces found in $modfile" >&2; exit 1; }

# Drop the previous generated block, then append a fresh one.
sed -i '/^\/\/ BEGIN generated staging replaces/,/^\/\/ END generated staging replaces/d' go.mod
{
  echo "// BEGIN generated staging replaces (hack/gen-replaces.sh ${version}); do not edit by hand"
  echo "replace ("
  for m in $staging; do echo "	$m => $m ${staging_version}"; done
  echo ")"
  echo "// END generated staging replaces"
} >> go.mod
go mod edit -require="k8s.io/kubernetes@${version}"
echo "pinned $(echo "$staging" | wc -l) staging modules to ${staging_version}" >&2
