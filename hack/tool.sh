#!/usr/bin/env bash
# Builds a pinned release tool from the Go module proxy on first use, caches
# it keyed by version, and prints the path of the binary on stdout (build
# logs go to stderr). No prebuilt binary is downloaded: only Go modules.
#
#   hack/tool.sh helm        helm.sh/helm/v3/cmd/helm        (HELM_VERSION)
#   hack/tool.sh kustomize   sigs.k8s.io/kustomize/kustomize (KUSTOMIZE_VERSION)
#   hack/tool.sh kind        sigs.k8s.io/kind                (KIND_VERSION; hack/e2e-kind.sh)
#   hack/tool.sh crictl      sigs.k8s.io/cri-tools/cmd/crictl (CRICTL_VERSION; hack/kind-node-image.sh)
#
# Cache: ${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}/<tool>/<version>/<tool>.
# Idempotent and safe to run concurrently (one builder per cache directory).
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# kustomize v5.8.3 needs Go 1.27; v5.8.2 is the newest that builds with 1.26.
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.2}"
KIND_VERSION="${KIND_VERSION:-v0.33.0}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"

name="${1:-}"
case "$name" in
  helm)
    version="$HELM_VERSION"
    pkg="helm.sh/helm/v3/cmd/helm"
    # The Kubernetes version `helm template` and `helm lint` assume (the
    # client-go minor helm.sh/helm/v3 v3.22 is built with), as helm's Makefile sets it.
    k8s_minor="${HELM_K8S_MINOR:-37}"
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${version} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
      ldflags="$ldflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=${k8s_minor}"
    done
    ;;
  kustomize)
    version="$KUSTOMIZE_VERSION"
    pkg="sigs.k8s.io/kustomize/kustomize/v5"
    ldflags="-s -w"
    ;;
  kind)
    version="$KIND_VERSION"
    pkg="sigs.k8s.io/kind"
    ldflags="-s -w"
    ;;
  crictl)
    version="$CRICTL_VERSION"
    pkg="sigs.k8s.io/cri-tools/cmd/crictl"
    ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${version}"
    ;;
  -h|--help|"") sed -n '2,13p' "$0"; [ -n "$name" ]; exit ;;
  *) echo "tool: unknown tool $name (helm, kustomize, kind, crictl)" >&2; exit 2 ;;
esac

cache="${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}/${name}/${version}"
bin="$cache/$name"
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

echo "tool: building $name $version from the Go module proxy into $cache" >&2
start=$(date +%s)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Outside any module and workspace; the toolchain on the machine, never a
# downloaded one.
cd "$work"
GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN="$work" \
  go install -ldflags "$ldflags" "${pkg}@${version}" >&2
mv "$work/$name" "$bin"
echo "tool: $name $version built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
