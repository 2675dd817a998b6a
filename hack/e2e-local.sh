#!/usr/bin/env bash
# The cluster e2e suite (test/e2e/cluster) on the local host-process cluster
# (hack/local-cluster.sh): no Docker, no registry. Needs root, Linux, Go,
# the PostgreSQL 15 server binaries and Node.js (test/js).
#
#   hack/e2e-local.sh [go test flags...]     e.g. -run 'TestCluster/(install|engine|clients)'
#   make test-e2e-local
#
# Phases (each one's duration is printed, and a summary at the end):
#   images   make images (operator, gateway, runner v1) + make runner-image (v2)
#   up       hack/local-cluster.sh down (leftovers), then up
#   import   hack/local-cluster.sh import of the four image tarballs
#   test     go test ./test/e2e/cluster with PostgreSQL on the host (reached by
#            pods at 10.88.0.1, the cni0 gateway) and pull policy Never
#   down     hack/local-cluster.sh down (always, on exit)
#
# Environment: E2E_TAG (image tag prefix, default e2e), E2E_REUSE_CLUSTER=1
# (use the running local cluster: no down/up), E2E_KEEP_CLUSTER=1 (no down
# at the end), RIVETKUBE_E2E_DIRECT=1 (reach the gateway by its ClusterIP
# instead of port-forwarding), E2E_GO_TEST_TIMEOUT (default 45m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TAG="${E2E_TAG:-e2e}"
CLUSTER=(bash "$ROOT/hack/local-cluster.sh")
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rivetkube-e2e-local.XXXXXX")"

PHASE_TAG=e2e-local
# shellcheck source=hack/lib/phases.sh
source "$ROOT/hack/lib/phases.sh"

cleanup() {
  local rc=$?
  end_phase
  if [ "${E2E_REUSE_CLUSTER:-}" != 1 ] && [ "${E2E_KEEP_CLUSTER:-}" != 1 ]; then
    phase down
    "${CLUSTER[@]}" down || echo "[e2e-local] local-cluster.sh down failed" >&2
    end_phase
  fi
  rm -rf "$WORK"
  print_timings "$rc"
  exit "$rc"
}
trap cleanup EXIT

phase images
make --no-print-directory images IMAGES_DIR="$WORK/images" IMG_TAG="$TAG" RUNNER_IMG="rivetkube/quickstart:$TAG-v1"
# Version 2 is the same program under another tag: the rollout moves actors
# between two image names, which is all the operator sees.
make --no-print-directory runner-image IMAGES_DIR="$WORK/images/v2" RUNNER_IMG="rivetkube/quickstart:$TAG-v2"
HELM="$(bash hack/tool.sh helm)"
if [ ! -f test/js/node_modules/rivetkit/package.json ]; then
  npm ci --prefix test/js --no-audit --no-fund
fi

if [ "${E2E_REUSE_CLUSTER:-}" = 1 ]; then
  KUBECONFIG_PATH="$("${CLUSTER[@]}" kubeconfig)"
else
  phase up
  "${CLUSTER[@]}" down >/dev/null 2>&1 || true
  "${CLUSTER[@]}" up
  KUBECONFIG_PATH="$("${CLUSTER[@]}" kubeconfig)"
fi

phase import
"${CLUSTER[@]}" import "$WORK/images/operator.tar" "$WORK/images/gateway.tar" "$WORK/images/runner.tar" "$WORK/images/v2/runner.tar"

phase test
RIVETKUBE_E2E_KUBECONFIG="$KUBECONFIG_PATH" \
RIVETKUBE_REQUIRE_E2E=1 \
RIVETKUBE_REQUIRE_JS=1 \
RIVETKUBE_E2E_OPERATOR_IMAGE="rivetkube/operator:$TAG" \
RIVETKUBE_E2E_GATEWAY_IMAGE="rivetkube/gateway:$TAG" \
RIVETKUBE_E2E_RUNNER_IMAGE_V1="rivetkube/quickstart:$TAG-v1" \
RIVETKUBE_E2E_RUNNER_IMAGE_V2="rivetkube/quickstart:$TAG-v2" \
RIVETKUBE_E2E_PULL_POLICY=Never \
RIVETKUBE_E2E_POSTGRES=host \
RIVETKUBE_E2E_HOST_ADDR=10.88.0.1 \
RIVETKUBE_E2E_HOST_NET=10.88.0.0/16 \
RIVETKUBE_E2E_HELM="$HELM" \
  go test -count=1 -v -timeout "${E2E_GO_TEST_TIMEOUT:-45m}" ./test/e2e/cluster/ "$@"
end_phase
