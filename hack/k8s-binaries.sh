#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries the controller tests (envtest)
# and the local cluster need, from source through the Go module proxy, and
# caches them keyed by version. setup-envtest cannot download here, so this
# is how KUBEBUILDER_ASSETS gets its etcd, kube-apiserver and kubectl.
#
#   hack/k8s-binaries.sh          etcd, kube-apiserver, kubectl (envtest)
#   hack/k8s-binaries.sh --all    also kube-controller-manager, kube-scheduler,
#                                 kubelet, kube-proxy (local cluster)
#   hack/k8s-binaries.sh --all --kubeadm
#                                 also kubeadm (the kind node image,
#                                 hack/kind-node-image.sh)
#
# Prints the directory holding the binaries on stdout (build logs go to
# stderr). Idempotent: binaries already in the cache are not rebuilt.
# Cache: ${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}/k8s/<k8s version>/.
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging
# modules with local paths), so a throwaway wrapper module requires it and
# replaces every staging module with its published v0.x.y release.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.0}"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

all=0
kubeadm=0
for arg in "$@"; do
  case "$arg" in
    --all) all=1 ;;
    --kubeadm) kubeadm=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "k8s-binaries: unknown argument $arg" >&2; exit 2 ;;
  esac
done

cache="${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}/k8s/${K8S_VERSION}"
mkdir -p "$cache"

# name → Go package (etcd is built from the wrapper's ./etcd main).
declare -A pkgs=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kubeadm]=k8s.io/kubernetes/cmd/kubeadm
  [etcd]=./etcd
)
wanted=(etcd kube-apiserver kubectl)
if [ "$all" = 1 ]; then
  wanted+=(kube-controller-manager kube-scheduler kubelet kube-proxy)
fi
if [ "$kubeadm" = 1 ]; then
  wanted+=(kubeadm)
fi

# One builder at a time per cache directory.
exec 9>"$cache/.lock"
flock 9

missing=()
for b in "${wanted[@]}"; do
  [ -x "$cache/$b" ] || missing+=("$b")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "$cache"
  exit 0
fi

echo "k8s-binaries: building ${missing[*]} (Kubernetes ${K8S_VERSION}, etcd ${ETCD_VERSION}) into $cache" >&2
start=$(date +%s)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOWORK=off

# The staging replacements come from the kubernetes go.mod of this version.
kmod="$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
if [ -z "$kmod" ] || [ ! -f "$kmod" ]; then
  echo "k8s-binaries: cannot download k8s.io/kubernetes@${K8S_VERSION}" >&2
  exit 1
fi
replaces="$(sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9.-]*\) => \./staging/.*#\1#p' "$kmod" \
  | grep -v -e '^k8s.io/sample-cli-plugin$' -e '^k8s.io/sample-controller$' \
  | sort -u)"
if [ -z "$replaces" ]; then
  echo "k8s-binaries: no staging replacements found in $kmod" >&2
  exit 1
fi

{
  echo "module rivetkube.local/k8sbinaries"
  echo
  echo "go 1.26"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes ${K8S_VERSION}"
  echo "	go.etcd.io/etcd/server/v3 ${ETCD_VERSION}"
  echo ")"
  echo
  echo "replace ("
  for m in $replaces; do echo "	$m => $m ${STAGING_VERSION}"; done
  echo ")"
} > go.mod

mkdir etcd
cat > etcd/main.go <<'GO'
// Command etcd is etcd built from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO

{
  echo "//go:build tools"
  echo
  echo "// Package tools records the commands this module builds, for go mod tidy."
  echo "package tools"
  echo
  echo "import ("
  for b in kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy kubeadm; do
    echo "	_ \"${pkgs[$b]}\""
  done
  echo ")"
} > tools.go

go mod tidy >&2

minor="${K8S_VERSION#v1.}"
minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
mkdir out
for b in "${missing[@]}"; do
  echo "k8s-binaries: go build $b" >&2
  go build -trimpath -ldflags "$ldflags" -o "out/$b" "${pkgs[$b]}"
  mv "out/$b" "$cache/$b"
done

echo "k8s-binaries: done in $(( $(date +%s) - start ))s" >&2
echo "$cache"
