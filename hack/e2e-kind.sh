#!/usr/bin/env bash
# The cluster e2e suite (test/e2e/cluster) on a throwaway kind cluster. kind
# is built from the Go module proxy (hack/tool.sh kind). Works with no
# registry: the images are made by `make images` (no Docker build) and
# loaded with `kind load image-archive`.
#
#   hack/e2e-kind.sh [go test flags...]
#   make test-e2e
#
# Phases (each one's duration is printed, and a summary at the end):
#   docker      the running Docker engine, or (root) Debian's dockerd
#               started for this run and stopped at the end (hack/lib/dockerd.sh)
#   tools       kind, helm, the JS client (npm ci)
#   node-image  hack/kind-node-image.sh (offline node image; cached by content)
#   images      make images + make runner-image (tarballs)
#   cluster     kind create cluster
#   load        kind load image-archive of the four tarballs
#   test        go test ./test/e2e/cluster
#   logs        on failure: kind export logs into $E2E_ARTIFACTS
#   delete      kind delete cluster
#
# Node image and PostgreSQL (KIND_NODE_IMAGE):
#   build (default when no registry answers): the node image built here;
#     PostgreSQL runs on the host (pgtest), reached by pods at the kind
#     network's gateway; nothing is pulled
#   kind (default when registry-1.docker.io answers): kind's published node
#     image; PostgreSQL in the cluster (postgres:15, pulled by the node)
#   any other value: that node image, PostgreSQL in the cluster
#
# Environment: KIND_CLUSTER_NAME (default rivetkube-e2e; a leftover cluster
# under the default name is deleted first), KIND_VERSION (see
# hack/tool.sh), E2E_TAG (image tag prefix, default e2e), E2E_KEEP_CLUSTER=1
# (do not delete the cluster), E2E_ARTIFACTS (where logs go on failure;
# default /tmp/rivetkube-e2e-kind-logs.<time>), E2E_GO_TEST_TIMEOUT
# (default 45m), RIVETKUBE_E2E_POSTGRES (override the mode above).
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
ARTIFACTS="${E2E_ARTIFACTS:-${TMPDIR:-/tmp}/rivetkube-e2e-kind-logs.$(date +%Y%m%dT%H%M%S)}"

PHASE_TAG=e2e-kind
# shellcheck source=hack/lib/phases.sh
source "$ROOT/hack/lib/phases.sh"
# shellcheck source=hack/lib/dockerd.sh
source "$ROOT/hack/lib/dockerd.sh"
CREATED=""
KIND=""

cleanup() {
  local rc=$?
  end_phase
  if [ "$rc" != 0 ] && [ -n "$CREATED" ] && [ -n "$KIND" ]; then
    phase logs
    mkdir -p "$ARTIFACTS"
    "$KIND" export logs --name "$NAME" "$ARTIFACTS/kind" >/dev/null 2>&1 \
      || echo "[e2e-kind] kind export logs failed" >&2
    if [ -n "${DOCKERD_STARTED:-}" ]; then cp "$DOCKERD_DIR/dockerd.log" "$ARTIFACTS/" 2>/dev/null || true; fi
    echo "[e2e-kind] logs of the failed run: $ARTIFACTS"
    end_phase
  fi
  if [ -n "$CREATED" ] && [ "${E2E_KEEP_CLUSTER:-}" != 1 ]; then
    phase delete
    "$KIND" delete cluster --name "$NAME" || echo "[e2e-kind] kind delete cluster failed" >&2
    end_phase
  elif [ -n "$CREATED" ]; then
    echo "[e2e-kind] keeping cluster $NAME (kubeconfig: $KCFG)"
  fi
  if [ "${E2E_KEEP_CLUSTER:-}" != 1 ]; then
    rm -rf "$WORK"
    # Only the engine this run started; its images (the node image) stay
    # in /var/lib/docker for the next run.
    dockerd_stop
  fi
  print_timings "$rc"
  exit "$rc"
}
trap cleanup EXIT

phase docker
dockerd_ensure

phase tools
KIND="$(bash hack/tool.sh kind)"
HELM="$(bash hack/tool.sh helm)"
if [ ! -f test/js/node_modules/rivetkit/package.json ]; then
  npm ci --prefix test/js --no-audit --no-fund
fi

node_image="${KIND_NODE_IMAGE:-}"
if [ -z "$node_image" ]; then
  node_image=build
  if curl -s -o /dev/null -m 5 https://registry-1.docker.io/v2/ 2>/dev/null; then
    node_image=kind
  fi
  echo "[e2e-kind] node image: $node_image (set KIND_NODE_IMAGE=build|kind|<image> to choose)"
fi
create=(create cluster --name "$NAME" --kubeconfig "$KCFG" --wait 5m --retain)
postgres=incluster
case "$node_image" in
  build)
    phase node-image
    create+=(--image "$(bash hack/kind-node-image.sh)" --config hack/kind-node/cluster.yaml)
    postgres=host
    ;;
  kind) ;;
  *) create+=(--image "$node_image") ;;
esac
postgres="${RIVETKUBE_E2E_POSTGRES:-$postgres}"
if [ "$postgres" = host ] && [ ! -x /usr/lib/postgresql/15/bin/initdb ] && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq postgresql-15 >/dev/null
fi

phase images
make --no-print-directory images IMAGES_DIR="$WORK/images" IMG_TAG="$TAG" RUNNER_IMG="$RUNNER_V1"
# Version 2 is the same program under another tag.
make --no-print-directory runner-image IMAGES_DIR="$WORK/images/v2" RUNNER_IMG="$RUNNER_V2"

phase cluster
if "$KIND" get clusters 2>/dev/null | grep -qx "$NAME"; then
  # The default name belongs to this script: a cluster under it is what an
  # earlier run left behind (killed before its delete phase, or kept with
  # E2E_KEEP_CLUSTER=1), and it is replaced. A name the caller chose may be
  # someone else's cluster: that is refused unless CI is set.
  if [ -n "${KIND_CLUSTER_NAME:-}" ] && [ -z "${CI:-}" ]; then
    echo "e2e-kind: a kind cluster named $NAME exists; delete it (kind delete cluster --name $NAME) or choose another KIND_CLUSTER_NAME" >&2
    exit 1
  fi
  echo "e2e-kind: deleting the cluster $NAME left by an earlier run"
  "$KIND" delete cluster --name "$NAME"
fi
CREATED=1
"$KIND" "${create[@]}"

phase load
for tar in "$WORK/images/operator.tar" "$WORK/images/gateway.tar" "$WORK/images/runner.tar" "$WORK/images/v2/runner.tar"; do
  "$KIND" load image-archive --name "$NAME" "$tar"
done

# Host-mode PostgreSQL listens on the kind network's gateway (an address of
# this machine) and trusts the network, from which the node's masqueraded
# pod traffic comes.
host_env=()
if [ "$postgres" = host ]; then
  kind_net="$(docker network inspect kind --format '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{"\n"}}{{end}}' | grep -m1 '^[0-9.]*/[0-9]* [0-9.]*$')" \
    || { echo "e2e-kind: the kind network has no IPv4 subnet" >&2; exit 1; }
  host_env=(RIVETKUBE_E2E_HOST_NET="${kind_net% *}" RIVETKUBE_E2E_HOST_ADDR="${kind_net#* }")
fi

phase test
env "${host_env[@]}" \
RIVETKUBE_E2E_KUBECONFIG="$KCFG" \
RIVETKUBE_REQUIRE_E2E=1 \
RIVETKUBE_REQUIRE_JS=1 \
RIVETKUBE_E2E_OPERATOR_IMAGE="$OPERATOR_IMG" \
RIVETKUBE_E2E_GATEWAY_IMAGE="$GATEWAY_IMG" \
RIVETKUBE_E2E_RUNNER_IMAGE_V1="$RUNNER_V1" \
RIVETKUBE_E2E_RUNNER_IMAGE_V2="$RUNNER_V2" \
RIVETKUBE_E2E_PULL_POLICY=IfNotPresent \
RIVETKUBE_E2E_POSTGRES="$postgres" \
RIVETKUBE_E2E_HELM="$HELM" \
  go test -count=1 -v -timeout "${E2E_GO_TEST_TIMEOUT:-45m}" ./test/e2e/cluster/ "$@"
end_phase
