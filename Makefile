# Developer entry points. `make generate manifests` regenerates deepcopy code,
# CRDs and RBAC with the pinned controller-gen; hack/check-generated.sh (run
# by hack/test.sh) fails when they are stale.

CONTROLLER_TOOLS_VERSION ?= v0.23.0
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)

.PHONY: all
all: generate manifests build

.PHONY: build
build: ## Build the binaries into ./bin.
	go build -o $(LOCALBIN)/ ./cmd/...

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for api/.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs (config/crd) and RBAC (config/rbac) from markers.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=rivetkube-operator paths="./internal/controller/..." output:rbac:artifacts:config=config/rbac

.PHONY: check-generated
check-generated: ## Fail when generated files are stale.
	bash hack/check-generated.sh

.PHONY: k8s-binaries
k8s-binaries: ## Build and cache kube-apiserver, etcd and kubectl for envtest.
	bash hack/k8s-binaries.sh

.PHONY: test-operator
test-operator: ## Controller tests against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(bash hack/k8s-binaries.sh)" RIVETKUBE_REQUIRE_K8S=1 go test -count=1 ./api/... ./internal/admin/... ./internal/controller/... ./internal/operator/...

$(CONTROLLER_GEN):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

.PHONY: bench
bench: ## Run the end-to-end benchmark: prints a table of figures (about 1–2 min). BENCH_FLAGS="-only read -cpuprofile cpu.prof" narrows it.
	go run ./bench $(BENCH_FLAGS)

.PHONY: bench-pg
bench-pg: ## Distributed-engine benchmark against raw PostgreSQL on a throwaway server (a few minutes). BENCH_FLAGS="-actors-in-directory 100000" is quicker.
	go run ./bench/pg $(BENCH_FLAGS)
