#!/usr/bin/env bash
# Runs every test tier that can run on this machine. Installs what the tests
# need first (PostgreSQL 15 server binaries, the pinned RivetKit JS client),
# so it works on a fresh machine. Prints each phase's duration.
set -euo pipefail
cd "$(dirname "$0")/.."

phase_start=0
phase() { phase_start=$(date +%s); echo; echo "=== $1"; }
phase_end() { echo "--- $1 took $(( $(date +%s) - phase_start ))s"; }

export PATH="$PATH:/usr/local/go/bin"
export RIVETKUBE_REQUIRE_JS=1
export RIVETKUBE_REQUIRE_PG=1

phase "install test dependencies"
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql-15 >/dev/null
fi
if [ ! -d test/js/node_modules/rivetkit ] || [ test/js/package-lock.json -nt test/js/node_modules/.package-lock.json ]; then
  npm ci --prefix test/js --no-audit --no-fund --loglevel=error
fi
# The browser tier (test/browser): Debian's chromium, the React example
# built once and cached (node_modules and dist are ignored by git).
export RIVETKUBE_REQUIRE_BROWSER=1
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
for d in examples/web test/browser; do
  if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    npm ci --prefix "$d" --no-audit --no-fund --loglevel=error
  fi
done
if [ ! -f examples/web/dist/index.html ] || [ -n "$(find examples/web/src examples/web/index.html examples/web/vite.config.js examples/web/package-lock.json -newer examples/web/dist/index.html)" ]; then
  npm run --prefix examples/web --silent build -- --logLevel error
fi
phase_end "install"

phase "go vet"
go vet ./...
phase_end "vet"

phase "unit, conformance and integration tests"
go test -count=1 -timeout 20m ./...
phase_end "tests"

phase "chaos: faults under load on real processes, histories checked (docs/reliability.md)"
go run ./test/chaos -duration 75s -seed 1 -min-ops 1000 -min-faults 10
go run ./test/chaos -selftest -duration 30s -seed 1
go run ./test/chaos -local -kills 20 -seed 1 -min-ops 1000 -min-faults 20
phase_end "chaos"

phase "race detector on the concurrent core"
go test -count=1 -race -timeout 20m ./rivet/... ./internal/store/... ./internal/pagedb/... ./gateway/... ./runner/... ./client/... ./internal/cli/...
phase_end "race"

phase "generated files (deepcopy, CRDs, RBAC) are up to date"
bash hack/check-generated.sh
phase_end "check-generated"

phase "Kubernetes test binaries (built from source once, then cached)"
KUBEBUILDER_ASSETS="$(bash hack/k8s-binaries.sh)"
export KUBEBUILDER_ASSETS
export RIVETKUBE_REQUIRE_K8S=1
phase_end "k8s binaries"

phase "operator: controller tests against a real kube-apiserver and etcd"
go test -count=1 -timeout 20m ./api/... ./internal/admin/... ./controllers/... ./internal/operator/... ./cmd/operator/... ./internal/cli/...
phase_end "operator tests"

phase "release tools: helm and kustomize (built from the module proxy once, then cached)"
bash hack/tool.sh helm >/dev/null
bash hack/tool.sh kustomize >/dev/null
phase_end "release tools"

phase "release: chart and dist/install.yaml match config/; helm lint and chart tests"
bash hack/check-release.sh
phase_end "check-release"

phase "end to end on the local host-process cluster (hack/e2e-local.sh: registry-free images, cluster up, helm install, scenarios, uninstall, cluster down)"
RIVETKUBE_REQUIRE_E2E=1 bash hack/e2e-local.sh
phase_end "e2e-local"

phase "end to end on kind (hack/e2e-kind.sh: dockerd for the run, offline node image cached by content, same scenarios, cluster deleted, dockerd stopped)"
RIVETKUBE_REQUIRE_E2E=1 KIND_NODE_IMAGE=build bash hack/e2e-kind.sh
phase_end "e2e-kind"
