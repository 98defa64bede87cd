#!/usr/bin/env bash
# Generates the deep copies of every API type and the typed client, listers and
# informers of the tensile.dev API, with k8s.io/code-generator at the release of the
# rest of the k8s.io graph (go.mod's replace), run through `go run`, so nothing is
# installed. `make generate` runs it; `make verify-generated` checks the tree is current.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' k8s.io/code-generator 2>/dev/null || true)
[ -n "$version" ] || version=$(go list -m -f '{{.Version}}' k8s.io/apimachinery)
gen() { go run "k8s.io/code-generator/cmd/$1@$version" "${@:2}"; }

module=github.com/tensile-kube/tensile
header=hack/boilerplate.go.txt
out=pkg/generated

# Deep copies: the tensile.dev API and the plugin args (typed config of the scheduler
# and descheduler plugins).
gen deepcopy-gen --go-header-file "$header" --output-file zz_generated.deepcopy.go \
  ./pkg/apis/tensile/v1alpha1 ./pkg/plugins/lowerfit/apis/config ./pkg/plugins/lowerfit/apis/config/v1 \
  ./pkg/plugins/recreateunschedulable

rm -rf "$out"
gen client-gen --go-header-file "$header" --clientset-name versioned \
  --input-base "$module/pkg/apis" --input tensile/v1alpha1 \
  --output-dir "$out/clientset" --output-pkg "$module/$out/clientset"
gen lister-gen --go-header-file "$header" \
  --output-dir "$out/listers" --output-pkg "$module/$out/listers" ./pkg/apis/tensile/v1alpha1
gen informer-gen --go-header-file "$header" \
  --versioned-clientset-package "$module/$out/clientset/versioned" \
  --listers-package "$module/$out/listers" \
  --output-dir "$out/informers" --output-pkg "$module/$out/informers" ./pkg/apis/tensile/v1alpha1
