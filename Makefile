# Developer entry points. `make generate manifests` regenerates deepcopy code,
# CRDs and RBAC with the pinned controller-gen; hack/check-generated.sh (run
# by hack/test.sh) fails when they are stale.

CONTROLLER_TOOLS_VERSION ?= v0.23.0
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)

.PHONY: all
all: generate manifests chart build

.PHONY: build
build: ## Build the binaries into ./bin.
	go build -o $(LOCALBIN)/ ./cmd/...

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code for api/.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs (config/crd) and RBAC (config/rbac) from markers.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=rivetkube-operator paths="./controllers/..." output:rbac:artifacts:config=config/rbac

.PHONY: check-generated
check-generated: ## Fail when generated files are stale.
	bash hack/check-generated.sh

.PHONY: k8s-binaries
k8s-binaries: ## Build and cache kube-apiserver, etcd and kubectl for envtest.
	bash hack/k8s-binaries.sh

.PHONY: test-operator
test-operator: ## Controller tests against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(bash hack/k8s-binaries.sh)" RIVETKUBE_REQUIRE_K8S=1 go test -count=1 ./api/... ./internal/admin/... ./controllers/... ./internal/operator/...

.PHONY: test-e2e
test-e2e: ## Cluster e2e suite (test/e2e/cluster) on a throwaway kind cluster; Docker, or root (starts dockerd, builds the node image offline) (hack/e2e-kind.sh, docs/e2e.md). E2E_FLAGS="-run ..." narrows it.
	bash hack/e2e-kind.sh $(E2E_FLAGS)

.PHONY: kind-node-image
kind-node-image: ## Build (or find) the offline kind node image; prints its name (hack/kind-node-image.sh; root, Docker).
	@bash hack/kind-node-image.sh

.PHONY: test-e2e-local
test-e2e-local: ## Cluster e2e suite on the local host-process cluster (hack/local-cluster.sh); root, no Docker (hack/e2e-local.sh).
	bash hack/e2e-local.sh $(E2E_FLAGS)

.PHONY: cluster-up
cluster-up: ## Start the local single-node host-process Kubernetes (hack/local-cluster.sh up; root; docs/local-cluster.md).
	bash hack/local-cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and clean up the host (hack/local-cluster.sh down).
	bash hack/local-cluster.sh down

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

.PHONY: bench-observe
bench-observe: ## What metrics and tracing cost per action: four modes in alternating rounds (about 2 min). BENCH_FLAGS="-exporter memory" skips the OTLP encoding.
	go run ./bench/observe $(BENCH_FLAGS)

.PHONY: chaos
chaos: ## Chaos harness: faults under load on real processes, histories checked (docs/reliability.md). CHAOS_FLAGS="-duration 30m" runs longer, "-selftest" or "-local" the other modes.
	go run ./test/chaos $(CHAOS_FLAGS)

##@ Release: images, Helm chart, installer (docs/install.md)

# The release the committed chart and dist/install.yaml point at: the chart's
# appVersion. VERSION is what binaries report (-X main.version).
RELEASE_VERSION := $(shell sed -n 's/^appVersion: *"*\([^"]*\)"* *$$/\1/p' charts/rivetkube/Chart.yaml)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REGISTRY ?= rivetkube
IMG_TAG ?= $(RELEASE_VERSION)
OPERATOR_IMG ?= $(REGISTRY)/operator:$(IMG_TAG)
GATEWAY_IMG ?= $(REGISTRY)/gateway:$(IMG_TAG)
# The runner image: your actors' main package (default: the quickstart).
RUNNER_PKG ?= ./examples/quickstart
RUNNER_IMG ?= $(REGISTRY)/quickstart:$(IMG_TAG)
GOARCH ?= $(shell go env GOARCH)
# Registry-free image tarballs: docker (docker-archive) or oci.
IMG_FORMAT ?= docker
IMAGES_DIR ?= dist/images
LINUX_BIN = $(LOCALBIN)/linux_$(GOARCH)
GO_LDFLAGS = -s -w -X main.version=$(VERSION)
# File times and the image config's creation time: the last commit's.
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
CA_BUNDLE ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)
IMGBUILD = go run ./hack/imgbuild -format $(IMG_FORMAT) -platform linux/$(GOARCH) \
	$(if $(CA_BUNDLE),-ca-certs $(CA_BUNDLE)) \
	-label org.opencontainers.image.version=$(VERSION) \
	-label org.opencontainers.image.revision=$(shell git rev-parse HEAD 2>/dev/null) \
	-label org.opencontainers.image.source=https://github.com/rivetkube/rivetkube

.PHONY: build-linux
build-linux: ## Static (CGO_ENABLED=0) linux binaries of the operator, gateway and RUNNER_PKG into bin/linux_$(GOARCH).
	mkdir -p $(LINUX_BIN)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags "$(GO_LDFLAGS)" -o $(LINUX_BIN)/operator ./cmd/operator
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags "$(GO_LDFLAGS)" -o $(LINUX_BIN)/gateway ./cmd/gateway
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags "$(GO_LDFLAGS)" -o $(LINUX_BIN)/runner $(RUNNER_PKG)

.PHONY: images
images: build-linux ## Registry-free operator, gateway and runner images as tarballs in dist/images (no Docker needed).
	$(IMGBUILD) -binary $(LINUX_BIN)/operator -tag $(OPERATOR_IMG) -label org.opencontainers.image.title=rivetkube-operator -o $(IMAGES_DIR)/operator.tar
	$(IMGBUILD) -binary $(LINUX_BIN)/gateway -tag $(GATEWAY_IMG) -label org.opencontainers.image.title=rivetkube-gateway -o $(IMAGES_DIR)/gateway.tar
	$(IMGBUILD) -binary $(LINUX_BIN)/runner -tag $(RUNNER_IMG) -label org.opencontainers.image.title=rivetkube-runner -o $(IMAGES_DIR)/runner.tar

.PHONY: runner-image
runner-image: ## Only the runner image (RUNNER_PKG, RUNNER_IMG) as dist/images/runner.tar.
	mkdir -p $(LINUX_BIN)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags "-s -w" -o $(LINUX_BIN)/runner $(RUNNER_PKG)
	$(IMGBUILD) -binary $(LINUX_BIN)/runner -tag $(RUNNER_IMG) -label org.opencontainers.image.title=rivetkube-runner -o $(IMAGES_DIR)/runner.tar

.PHONY: docker-build
docker-build: ## Operator and gateway images with Docker (Dockerfile, distroless base).
	docker build --build-arg BINARY=operator --build-arg VERSION=$(VERSION) -t $(OPERATOR_IMG) .
	docker build --build-arg BINARY=gateway --build-arg VERSION=$(VERSION) -t $(GATEWAY_IMG) .

.PHONY: docker-build-runner
docker-build-runner: ## Runner image with Docker (Dockerfile.runner, RUNNER_PKG).
	docker build -f Dockerfile.runner --build-arg PKG=$(RUNNER_PKG) -t $(RUNNER_IMG) .

.PHONY: docker-push
docker-push: ## Push the operator and gateway images.
	docker push $(OPERATOR_IMG)
	docker push $(GATEWAY_IMG)

.PHONY: chart
chart: ## Render the chart's CRD and RBAC templates from config/ (run after make manifests).
	go run ./hack/chartsync

.PHONY: build-installer
build-installer: ## Render dist/install.yaml (namespace, CRDs, RBAC, operator Deployment with OPERATOR_IMG) from config/default.
	OPERATOR_IMG=$(OPERATOR_IMG) bash hack/build-installer.sh dist/install.yaml

.PHONY: check-release
check-release: ## Fail when the chart or dist/install.yaml is stale; lint and render-test the chart with helm.
	bash hack/check-release.sh

.PHONY: helm
helm: ## Build and cache the pinned helm (prints its path).
	@bash hack/tool.sh helm

.PHONY: kustomize
kustomize: ## Build and cache the pinned kustomize (prints its path).
	@bash hack/tool.sh kustomize
