#!/usr/bin/env bash
# Clones this repository's HEAD into an empty temporary folder (nothing beside it) and
# runs `make demo` there, as a new user would: it must build, start the clusters and the
# components, and bring the walkthrough pod to Running above and below without reading
# anything outside the clone. Then it stops everything and removes the clone.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
parent=$(mktemp -d)
clone=$parent/tensile
cleanup() {
  (cd "$clone" 2>/dev/null && make testbed-down >/dev/null 2>&1) || true
  rm -rf "$parent"
}
trap cleanup EXIT
git clone -q "$src" "$clone"
cd "$clone"
echo "fresh-clone-demo: make demo in $clone (nothing beside it: $(ls -A "$parent" | tr '\n' ' '))"
make demo >"$parent/demo.log" 2>&1 || { tail -40 "$parent/demo.log"; echo "fresh-clone-demo: make demo failed" >&2; exit 1; }
k() { bin/kubectl --kubeconfig ".testbed/$1.kubeconfig" "${@:2}"; }
up=$(k upper get pod vk-demo -n default -o jsonpath='{.status.phase} {.spec.nodeName}')
low=$(k lower-a get pod vk-demo -n default -o jsonpath='{.status.phase}')
echo "fresh-clone-demo: walkthrough pod upper: $up; lower-a: $low"
[ "$up" = "Running vk-a" ] && [ "$low" = "Running" ] || { echo "fresh-clone-demo: walkthrough pod not Running above and below" >&2; exit 1; }
