# Every entry point of the project. `make help` lists them.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
TESTBED    := $(CURDIR)/.testbed
GO         ?= go
KWOK_VERSION := v0.8.0

# Versions stamped into every binary through ldflags. The control-plane tools report the
# pinned Kubernetes release (kubectl cannot parse the unstamped "v0.0.0-master+$Format:%H$").
K8S_VERSION    := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes 2>/dev/null)
K8S_MINOR      := $(word 2,$(subst ., ,$(K8S_VERSION)))
VERSION        ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
# Frozen once: a commit during a long run (images, then their test) must not change it.
VERSION        := $(VERSION)
GIT_COMMIT     := $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
BUILD_DATE     := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
CB             := k8s.io/component-base/version
CG             := k8s.io/client-go/pkg/version
define version_flags
-X $(CB).gitVersion=$(1) -X $(CB).gitMajor=1 -X $(CB).gitMinor=$(2) -X $(CB).gitCommit=$(GIT_COMMIT) \
-X $(CB).gitTreeState=clean -X $(CB).buildDate=$(BUILD_DATE) \
-X $(CG).gitVersion=$(1) -X $(CG).gitMajor=1 -X $(CG).gitMinor=$(2) -X $(CG).gitCommit=$(GIT_COMMIT) \
-X $(CG).gitTreeState=clean -X $(CG).buildDate=$(BUILD_DATE)
endef
TOOL_LDFLAGS := -s -w $(call version_flags,$(K8S_VERSION),$(K8S_MINOR))
LDFLAGS      := -s -w $(call version_flags,$(K8S_VERSION),$(K8S_MINOR)) \
                -X github.com/tensile-kube/tensile/pkg/version.Version=$(VERSION) \
                -X github.com/tensile-kube/tensile/pkg/version.Commit=$(GIT_COMMIT) \
                -X sigs.k8s.io/descheduler/pkg/version.version=$(shell $(GO) list -m -f "{{.Version}}" sigs.k8s.io/descheduler 2>/dev/null)

CMDS  := $(notdir $(wildcard cmd/*))
TOOLS := $(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kubectl $(BIN)/etcd $(BIN)/kwokctl $(BIN)/kwok

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-14s %s\n",$$1,$$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every cmd into bin/.
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))
	ln -sf tensilectl $(BIN)/kubectl-tensile # the kubectl plugin: `kubectl tensile ...`

.PHONY: tools
tools: $(TOOLS) ## Build the test bed's control plane (from the pinned modules) and KWOK into bin/.

$(BIN)/kube-apiserver $(BIN)/kube-controller-manager $(BIN)/kube-scheduler $(BIN)/kubectl &: go.mod
	$(GO) build -ldflags '$(TOOL_LDFLAGS)' -o $(BIN)/ k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl

# etcd's own go.mod has replace directives, so `go install` refuses it; build it from our graph.
$(BIN)/etcd: go.mod
	$(GO) build -o $@ go.etcd.io/etcd/server/v3

# KWOK is its own module with its own dependency graph: installed, not imported.
$(BIN)/kwokctl $(BIN)/kwok &:
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/kwok/cmd/kwokctl@$(KWOK_VERSION) sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)

# ---- generated code -------------------------------------------------------------------

.PHONY: generate
generate: ## Deep copies of the API and plugin-args types; the tensile.dev typed client, listers, informers.
	hack/update-codegen.sh

.PHONY: verify-generated
verify-generated: generate ## Fail when the generated code in the tree is not what `make generate` writes.
	@out=$$(git diff --name-only -- pkg/generated '*zz_generated*'; git ls-files --others --exclude-standard -- pkg/generated '*zz_generated*'); \
	  if [ -n "$$out" ]; then echo "generated code is stale; run make generate:"; echo "$$out"; exit 1; fi

# ---- images ---------------------------------------------------------------------------

# One multi-platform OCI image layout per cmd, bin/images/<cmd>/, named
# $(IMAGE_REGISTRY)/<cmd>:$(IMAGE_TAG) (docs/images.md). The binaries get LDFLAGS with the
# commit's time as build date, so that one commit always gives the same digests.
# The commands that run in a cluster (client tools under cmd/ get no image).
IMAGE_CMDS      ?= virtual-node multi-scheduler descheduler webhook
IMAGE_REGISTRY  ?= ghcr.io/tensile-kube
IMAGE_TAG       ?= $(VERSION)
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_CREATED   ?= $(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || echo 1970-01-01T00:00:00Z)
IMAGE_LDFLAGS   := $(subst buildDate=$(BUILD_DATE),buildDate=$(IMAGE_CREATED),$(LDFLAGS))

.PHONY: images
images: ## OCI images of every cmd (static, non-root, linux/amd64 and arm64) into bin/images/; no Docker.
	$(GO) run ./hack/images --out $(BIN)/images --registry '$(IMAGE_REGISTRY)' --tag '$(IMAGE_TAG)' \
		--platforms '$(IMAGE_PLATFORMS)' --version '$(VERSION)' --revision '$(GIT_COMMIT)' \
		--created '$(IMAGE_CREATED)' --ldflags '$(IMAGE_LDFLAGS)' $(IMAGE_CMDS)

.PHONY: test-images
test-images: images ## Open every image: entrypoint, user, platforms; run the amd64 binary's --version.
	$(GOTEST) -count=1 -tags images ./test/images -args -dir '$(BIN)/images' -commands '$(IMAGE_CMDS)' \
		-registry '$(IMAGE_REGISTRY)' -tag '$(IMAGE_TAG)' -version '$(VERSION)' -revision '$(GIT_COMMIT)'

# ---- test bed -------------------------------------------------------------------------

.PHONY: testbed-up
testbed-up: tools ## Start the upper, lower-a and lower-b clusters on 127.0.0.1 (idempotent).
	hack/testbed.sh up

.PHONY: testbed-down
testbed-down: ## Stop every test-bed process (and everything `make demo` started); remove .testbed/.
	hack/testbed.sh down

# ---- tests ----------------------------------------------------------------------------

E2E_TIMEOUT ?= 40m
GOTEST      ?= $(GO) test

.PHONY: test
test: lint test-unit test-e2e ## Unit and e2e tests; the e2e part starts and stops its own test bed.

.PHONY: test-unit
test-unit: ## Unit tests (no clusters), with the race detector; and the patch we carry in third_party/virtual-kubelet.
	$(GOTEST) -race -count=1 $$($(GO) list ./... | grep -v /test/e2e)
	cd third_party/virtual-kubelet && $(GOTEST) -count=1 -run 'PodsEffectivelyEqual' ./node/

# One test bed is shared by every e2e test of the run; hack/e2e.sh tears it down
# afterwards even when a test fails (KEEP_TESTBED=1 keeps it for debugging).
.PHONY: test-e2e
test-e2e: tools build ## E2E tests against a fresh local test bed.
	E2E_TIMEOUT=$(E2E_TIMEOUT) hack/e2e.sh

.PHONY: lint
lint: ## gofmt -l must print nothing; go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.testbed/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: bench
BENCH_RESULTS ?= .testbed-results

bench: tools build ## Go benchmarks, the end-to-end sync and scheduler benchmarks, then one targets table; figures go to docs/benchmarks.md.
	rm -rf $(BENCH_RESULTS) && mkdir -p $(BENCH_RESULTS)
	set -o pipefail; $(GO) test -run '^$$' -bench . -benchmem ./pkg/... ./internal/... | tee $(BENCH_RESULTS)/go-bench.txt
	@# Every part runs and the table shows them all; make fails if any part failed.
	export BENCH_RESULTS=$(BENCH_RESULTS); rc=0; hack/bench.sh || rc=1; hack/bench-scheduler.sh || rc=1; \
		hack/bench-report.sh; exit $$rc

# ---- demo -----------------------------------------------------------------------------

.PHONY: demo
demo: tools build ## Test bed up, components joined, the walkthrough workload Running. Leaves it running.
	hack/demo.sh

# ---- manifests and chart --------------------------------------------------------------

# charts/tensile is the one source of truth: manifests/ is its rendering with
# charts/tensile/ci/manifests-values.yaml (internal/chartrender's drift test fails when
# they differ). chart-template names the images as `make images` does.
CHART_NAMESPACE ?= tensile-system
CHART_SET       ?=

.PHONY: manifests
manifests: ## Render manifests/ from charts/tensile (edit the chart, then run this).
	$(GO) run ./hack/render-manifests

.PHONY: chart-template
chart-template: ## Print the chart rendered like helm template (CHART_SET='k=v,...', CHART_NAMESPACE, IMAGE_REGISTRY, IMAGE_TAG).
	@$(GO) run ./hack/render-manifests template -n '$(CHART_NAMESPACE)' --include-crds \
		--set 'image.registry=$(or $(IMAGE_REGISTRY),ghcr.io/tensile-kube)' $(if $(IMAGE_TAG),--set 'image.tag=$(IMAGE_TAG)') \
		$(if $(CHART_SET),--set '$(CHART_SET)')

.PHONY: chart-test
chart-test: ## Unit tests of the chart: rendering, schema, and manifests/ drift.
	$(GOTEST) -count=1 ./internal/chartrender/
