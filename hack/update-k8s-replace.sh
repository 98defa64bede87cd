#!/usr/bin/env bash
# Pins every k8s.io staging module to the release that matches a k8s.io/kubernetes
# version, so that a Kubernetes upgrade is one command:
#
#   hack/update-k8s-replace.sh v1.37.2
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
# ./staging paths, which a consumer cannot use. This script reads that replace block
# from the module itself and writes `k8s.io/<name> => k8s.io/<name> v0.<minor>.<patch>`
# for each one, plus k8s.io/kube-openapi at the pseudo-version Kubernetes pins (some
# dependents ask for one the module proxy refuses). It never runs `go get -u`.
set -euo pipefail

version=${1:?usage: $0 vMAJOR.MINOR.PATCH (a k8s.io/kubernetes release)}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "error: '$version' is not a k8s.io/kubernetes release like v1.37.2" >&2; exit 2; }
staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

cd "$(dirname "$0")/.."
gomod=$(go mod download -json "k8s.io/kubernetes@${version}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$gomod" ] || { echo "error: could not download k8s.io/kubernetes@${version}" >&2; exit 1; }

mods=$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod")
openapi=$(sed -n 's#^[[:space:]]*k8s\.io/kube-openapi \(v[^ ]*\).*#\1#p' "$gomod" | head -n1)
[ -n "$mods" ] && [ -n "$openapi" ] || { echo "error: unexpected go.mod layout in k8s.io/kubernetes@${version}" >&2; exit 1; }

args=(-require="k8s.io/kubernetes@${version}")
for m in $mods; do
  # Sample modules are not published as releases; nothing here needs them.
  case $m in k8s.io/sample-*) continue ;; esac
  args+=(-replace="${m}=${m}@${staging}")
done
args+=(-replace="k8s.io/kube-openapi=k8s.io/kube-openapi@${openapi}")
go mod edit "${args[@]}"
echo "pinned k8s.io/kubernetes ${version}, staging modules ${staging}, kube-openapi ${openapi}; now run: go mod tidy"
