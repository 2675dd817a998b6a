#!/usr/bin/env bash
# The cluster e2e suite (test/e2e/cluster) on a throwaway kind cluster, for
# machines with Docker. kind is built from the Go module proxy
# (hack/tool.sh kind); images are built with Docker and loaded into the
# node; PostgreSQL runs in the cluster (postgres:15, pulled by the node).
#
#   hack/e2e-kind.sh [go test flags...]
#   make test-e2e
#
# Environment: KIND_CLUSTER_NAME (default rivetkube-e2e), KIND_VERSION (see
# hack/tool.sh), KIND_NODE_IMAGE (default: kind's own), E2E_TAG (image tag
# prefix, default e2e), E2E_KEEP_CLUSTER=1 (do not delete the cluster),
# E2E_GO_TEST_TIMEOUT (default 45m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NAME="${KIND_CLUSTER_NAME:-rivetkube-e2e}"
TAG="${E2E_TAG:-e2e}"
OPERATOR_IMG="rivetkube/operator:$TAG"
GATEWAY_IMG="rivetkube/gateway:$TAG"
RUNNER_V1="rivetkube/quickstart:$TAG-v1"
RUNNER_V2="rivetkube/quickstart:$TAG-v2"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rivetkube-e2e-kind.XXXXXX")"
KCFG="$WORK/kubeconfig"

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
  echo "e2e-kind: needs a running Docker engine (use hack/e2e-local.sh without Docker)" >&2
  exit 1
fi

PHASE_TAG=e2e-kind
# shellcheck source=hack/lib/phases.sh
source "$ROOT/hack/lib/phases.sh"
CREATED=""

cleanup() {
  local rc=$?
  end_phase
  if [ -n "$CREATED" ] && [ "${E2E_KEEP_CLUSTER:-}" != 1 ]; then
    phase delete
    "$KIND" delete cluster --name "$NAME" || echo "[e2e-kind] kind delete cluster failed" >&2
    end_phase
  elif [ -n "$CREATED" ]; then
    echo "[e2e-kind] keeping cluster $NAME (kubeconfig: $KCFG)"
  fi
  if [ "${E2E_KEEP_CLUSTER:-}" != 1 ]; then
    rm -rf "$WORK"
  fi
  print_timings "$rc"
  exit "$rc"
}
trap cleanup EXIT

phase tools
KIND="$(bash hack/tool.sh kind)"
HELM="$(bash hack/tool.sh helm)"
if [ ! -f test/js/node_modules/rivetkit/package.json ]; then
  npm ci --prefix test/js --no-audit --no-fund
fi

phase images
make --no-print-directory docker-build OPERATOR_IMG="$OPERATOR_IMG" GATEWAY_IMG="$GATEWAY_IMG"
make --no-print-directory docker-build-runner RUNNER_IMG="$RUNNER_V1"
# Version 2 is the same program under another tag.
docker tag "$RUNNER_V1" "$RUNNER_V2"

phase cluster
if "$KIND" get clusters 2>/dev/null | grep -qx "$NAME"; then
  echo "e2e-kind: a kind cluster named $NAME exists; delete it (kind delete cluster --name $NAME) or set KIND_CLUSTER_NAME" >&2
  exit 1
fi
CREATED=1
create=(create cluster --name "$NAME" --kubeconfig "$KCFG" --wait 5m)
if [ -n "${KIND_NODE_IMAGE:-}" ]; then
  create+=(--image "$KIND_NODE_IMAGE")
fi
"$KIND" "${create[@]}"

phase load
"$KIND" load docker-image --name "$NAME" "$OPERATOR_IMG" "$GATEWAY_IMG" "$RUNNER_V1" "$RUNNER_V2"

phase test
RIVETKUBE_E2E_KUBECONFIG="$KCFG" \
RIVETKUBE_REQUIRE_E2E=1 \
RIVETKUBE_REQUIRE_JS=1 \
RIVETKUBE_E2E_OPERATOR_IMAGE="$OPERATOR_IMG" \
RIVETKUBE_E2E_GATEWAY_IMAGE="$GATEWAY_IMG" \
RIVETKUBE_E2E_RUNNER_IMAGE_V1="$RUNNER_V1" \
RIVETKUBE_E2E_RUNNER_IMAGE_V2="$RUNNER_V2" \
RIVETKUBE_E2E_PULL_POLICY=IfNotPresent \
RIVETKUBE_E2E_POSTGRES=incluster \
RIVETKUBE_E2E_HELM="$HELM" \
  go test -count=1 -v -timeout "${E2E_GO_TEST_TIMEOUT:-45m}" ./test/e2e/cluster/ "$@"
end_phase
