#!/usr/bin/env bash
# Builds a kind node image offline (no registry): Debian's packages for the
# userland, Kubernetes built from source for the rest. Needs root, Docker,
# debootstrap, Go, a Debian mirror (the one apt uses).
#
#   hack/kind-node-image.sh            build when missing; print the image name
#   hack/kind-node-image.sh --print    print the name the inputs give (builds
#                                      the inputs, not the image)
#
# The image (rivetkube.local/kind-node:<k8s version>-<content key>):
#   rootfs     debootstrap --variant=minbase of Debian $KIND_NODE_SUITE with
#              systemd (PID 1), containerd, runc, the CNI plugins, iptables,
#              conntrack... (NODE_PACKAGES); cached as a tarball
#   ours       hack/kind-node/files: the entrypoint, systemd units for
#              containerd and the kubelet, containerd's configuration, a
#              static bridge CNI configuration, the manifests kind applies
#   binaries   kubeadm, kubelet, kubectl (hack/k8s-binaries.sh --all
#              --kubeadm), crictl (hack/tool.sh crictl)
#   images     every image `kubeadm config images list` names, preloaded
#              into the node's containerd under that name: kube-apiserver,
#              kube-controller-manager, kube-scheduler, etcd, CoreDNS and
#              pause as single-binary images (hack/imgbuild); kube-proxy on
#              a minimal Debian rootfs (it runs iptables)
# The content key hashes every input (this script, the files, the package
# lists, the mirror, every binary), so a warm run finds the image in Docker
# and does nothing. kind's own `kind build node-image` is not used: it pulls
# etcd, CoreDNS, pause, its CNI and storage images from registries
# (see docs/e2e.md).
#
# Environment: K8S_VERSION (v1.37.2), KIND_NODE_SUITE (bookworm),
# KIND_NODE_MIRROR (default: the Debian mirror in /etc/apt/sources*),
# RIVETKUBE_CACHE (~/.cache/rivetkube; rootfs tarballs under kind-node/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export K8S_VERSION="${K8S_VERSION:-v1.37.2}"
SUITE="${KIND_NODE_SUITE:-bookworm}"
CACHE="${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}"
export RIVETKUBE_CACHE="$CACHE"
FILES="$ROOT/hack/kind-node/files"
NODE_REPO=rivetkube.local/kind-node

NODE_PACKAGES=(
  systemd systemd-sysv dbus
  containerd runc containernetworking-plugins
  iptables nftables conntrack iproute2 ethtool socat
  util-linux mount kmod procps libseccomp2
  bash ca-certificates curl jq
)
PROXY_PACKAGES=(iptables conntrack kmod)

log() { echo "kind-node-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

print_only=0
for arg in "$@"; do
  case "$arg" in
    --print) print_only=1 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) die "unknown argument $arg" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap)"
if ! command -v debootstrap >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || die "debootstrap missing and no apt-get"
  log "installing debootstrap (apt-get)"
  DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq debootstrap >&2
fi
docker info >/dev/null 2>&1 || die "no Docker engine (hack/e2e-kind.sh starts one)"

# The Debian mirror apt uses (deb822 or one-line sources), else Debian's CDN.
debian_mirror() {
  if [ -n "${KIND_NODE_MIRROR:-}" ]; then echo "$KIND_NODE_MIRROR"; return; fi
  local m
  m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -Eo '(https?)://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ')" || true
  echo "${m:-http://deb.debian.org/debian}"
}
MIRROR="$(debian_mirror)"

sha() { sha256sum | cut -c1-64; }

# rootfs NAME PACKAGES...: a cached tarball of a minbase Debian with the
# packages; prints its path.
rootfs() {
  local name="$1"
  shift
  local key dir tar tmp t0
  key="$(printf '%s\n' "$SUITE" "$MIRROR" "$@" | sha | cut -c1-16)"
  dir="$CACHE/kind-node/rootfs"
  tar="$dir/$name-$SUITE-$key.tar"
  if [ -f "$tar" ]; then echo "$tar"; return; fi
  mkdir -p "$dir"
  exec 8>"$dir/.$name.lock"
  flock 8
  if [ -f "$tar" ]; then exec 8>&-; echo "$tar"; return; fi
  t0=$(date +%s)
  tmp="$(mktemp -d "$dir/.$name.XXXXXX")"
  log "debootstrap $SUITE ($name: $*) from $MIRROR"
  local inc
  inc="$(IFS=,; echo "$*")"
  if ! debootstrap --variant=minbase --include="$inc" "$SUITE" "$tmp/root" "$MIRROR" > "$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    rm -rf "$tmp"
    die "debootstrap failed"
  fi
  rm -rf "$tmp/root/var/cache/apt/archives/"*.deb "$tmp/root/var/lib/apt/lists/"* "$tmp/root/var/log/"*
  tar -C "$tmp/root" --numeric-owner -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$tar"
  rm -rf "$tmp"
  exec 8>&-
  log "rootfs $name in $(( $(date +%s) - t0 ))s"
  echo "$tar"
}

# ---------------------------------------------------------------- inputs

t_start=$(date +%s)
K8S_DIR="$(bash hack/k8s-binaries.sh --all --kubeadm)"
COREDNS="$(bash hack/local-cluster/coredns.sh)"
CRICTL="$(bash hack/tool.sh crictl)"
PAUSE_DIR="$CACHE/kind-node/pause/$(cat hack/local-cluster/pause/*.go | sha | cut -c1-16)"
if [ ! -x "$PAUSE_DIR/pause" ]; then
  mkdir -p "$PAUSE_DIR"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$PAUSE_DIR/pause.tmp" ./hack/local-cluster/pause
  mv "$PAUSE_DIR/pause.tmp" "$PAUSE_DIR/pause"
fi
# The two root file systems download and unpack side by side.
proxy_out="$(mktemp)"
rootfs proxy "${PROXY_PACKAGES[@]}" > "$proxy_out" &
proxy_pid=$!
NODE_ROOTFS="$(rootfs node "${NODE_PACKAGES[@]}")"
wait "$proxy_pid" || die "the kube-proxy root file system failed"
PROXY_ROOTFS="$(cat "$proxy_out")"
rm -f "$proxy_out"

mapfile -t REQUIRED < <("$K8S_DIR/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null)
[ "${#REQUIRED[@]}" -ge 6 ] || die "kubeadm config images list gave: ${REQUIRED[*]:-nothing}"
PAUSE_IMAGE=""
for img in "${REQUIRED[@]}"; do
  case "$img" in */pause:*) PAUSE_IMAGE="$img" ;; esac
done
[ -n "$PAUSE_IMAGE" ] || die "kubeadm names no pause image"

key="$(
  {
    sha256sum "$ROOT/hack/kind-node-image.sh" hack/lib/runc-bounded hack/imgbuild/*.go
    (cd "$FILES" && find . -type f | LC_ALL=C sort | xargs sha256sum && find . -type f -perm -u+x | LC_ALL=C sort)
    basename "$NODE_ROOTFS"; basename "$PROXY_ROOTFS"
    printf '%s\n' "${REQUIRED[@]}"
    for b in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd; do
      sha256sum "$K8S_DIR/$b"
    done
    sha256sum "$COREDNS" "$CRICTL" "$PAUSE_DIR/pause"
  } | sed 's#  .*/# #' | sha | cut -c1-12
)"
IMAGE="$NODE_REPO:$K8S_VERSION-$key"
if [ "$print_only" = 1 ]; then echo "$IMAGE"; exit 0; fi
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "$IMAGE is built (inputs ready in $(( $(date +%s) - t_start ))s)"
  echo "$IMAGE"
  exit 0
fi
log "building $IMAGE"

# ---------------------------------------------------------------- images

WORK="$(mktemp -d "${TMPDIR:-/tmp}/rivetkube-kind-node.XXXXXX")"
CID=""
cleanup() {
  [ -z "$CID" ] || docker rm -f -v "$CID" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/images"

IMGBUILD="$WORK/imgbuild"
go build -o "$IMGBUILD" ./hack/imgbuild
export SOURCE_DATE_EPOCH=0

for img in "${REQUIRED[@]}"; do
  name="${img##*/}"
  name="${name%%:*}"
  out="$WORK/images/$name.tar"
  case "$name" in
    kube-apiserver|kube-controller-manager|kube-scheduler|etcd)
      "$IMGBUILD" -binary "$K8S_DIR/$name" -path "/usr/local/bin/$name" -user 0:0 -tag "$img" -o "$out" >&2 ;;
    coredns)
      # Root: the binary has no file capability to bind port 53 as non-root.
      "$IMGBUILD" -binary "$COREDNS" -path /coredns -user 0:0 -tag "$img" -o "$out" >&2 ;;
    pause)
      "$IMGBUILD" -binary "$PAUSE_DIR/pause" -path /pause -user 65535:65535 -tag "$img" -o "$out" >&2 ;;
    kube-proxy)
      base="rivetkube.local/kind-proxy-base:$(basename "$PROXY_ROOTFS" .tar)"
      docker image inspect "$base" >/dev/null 2>&1 || docker import "$PROXY_ROOTFS" "$base" >/dev/null
      mkdir -p "$WORK/proxy"
      cp "$K8S_DIR/kube-proxy" "$WORK/proxy/kube-proxy"
      printf 'FROM %s\nCOPY kube-proxy /usr/local/bin/kube-proxy\nENTRYPOINT ["/usr/local/bin/kube-proxy"]\n' "$base" > "$WORK/proxy/Dockerfile"
      docker build -q -t "$img" "$WORK/proxy" >/dev/null
      docker save -o "$out" "$img"
      docker rmi "$img" >/dev/null ;;
    *) die "kubeadm names an image this script cannot build: $img" ;;
  esac
done
log "control-plane images built"

# ---------------------------------------------------------------- node

rootfs_image="rivetkube.local/kind-rootfs:$(basename "$NODE_ROOTFS" .tar)"
docker image inspect "$rootfs_image" >/dev/null 2>&1 || docker import "$NODE_ROOTFS" "$rootfs_image" >/dev/null
CID="$(docker run -d --privileged --entrypoint sleep "$rootfs_image" infinity)"
in_node() { docker exec -i "$CID" "$@"; }

docker cp "$FILES/." "$CID:/"
docker cp "$K8S_DIR/kubeadm" "$CID:/usr/bin/kubeadm"
docker cp "$K8S_DIR/kubelet" "$CID:/usr/bin/kubelet"
docker cp "$K8S_DIR/kubectl" "$CID:/usr/bin/kubectl"
docker cp "$CRICTL" "$CID:/usr/local/bin/crictl"

in_node bash -euo pipefail -s "$K8S_VERSION" "$PAUSE_IMAGE" <<'NODE'
version="$1" pause="$2"
chown -R root:root /kind /etc/containerd /etc/cni /etc/systemd/system /usr/local/bin /usr/bin/kube*
echo "$version" > /kind/version
sed -i "s#@PAUSE_IMAGE@#$pause#" /etc/containerd/config.toml
mkdir -p /etc/kubernetes/manifests /opt/cni /var/lib/kubelet
ln -sfn /usr/lib/cni /opt/cni/bin
# Only what the node needs starts at boot: no getty, no udev, no timers;
# systemd-tmpfiles-setup would wipe /tmp and /var/tmp mid-boot.
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
  /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/basic.target.wants/* \
  /lib/systemd/system/sockets.target.wants/*udev* /lib/systemd/system/sockets.target.wants/*initctl* \
  /lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service
# The kernel log is the host's, not the node's.
mkdir -p /etc/systemd/journald.conf.d
printf '[Journal]\nReadKMsg=no\n' > /etc/systemd/journald.conf.d/10-rivetkube.conf
mkdir -p /etc/systemd/system/multi-user.target.wants
for u in containerd kubelet; do
  ln -sf "/etc/systemd/system/$u.service" "/etc/systemd/system/multi-user.target.wants/$u.service"
done
# binfmt_misc is the host kernel's, shared by every container.
ln -sf /dev/null /etc/systemd/system/systemd-binfmt.service
kubeadm version -o short >/dev/null
kubelet --version >/dev/null
NODE

# Preload the images: the node's containerd stores them under /var, which
# kind's anonymous /var volume starts from. No unpacking here (overlayfs on
# the build container's overlayfs); the node unpacks at first use.
in_node bash -c 'containerd --config /etc/containerd/config.toml </dev/null >/tmp/containerd.log 2>&1 & echo $! > /tmp/containerd.pid'
for i in $(seq 60); do
  in_node ctr version >/dev/null 2>&1 && break
  [ "$i" -lt 60 ] || { in_node cat /tmp/containerd.log >&2 || true; die "containerd in the build container did not start"; }
  sleep 0.5
done
for tar in "$WORK"/images/*.tar; do
  in_node ctr -n k8s.io images import --all-platforms --no-unpack - < "$tar" >/dev/null
done
have="$(in_node ctr -n k8s.io images list -q)"
for img in "${REQUIRED[@]}"; do
  grep -qxF "$img" <<<"$have" || die "image $img missing after import (have: $have)"
done
# sleep (PID 1 here) reaps nothing: containerd is gone once it is a zombie.
in_node bash -c 'p=$(cat /tmp/containerd.pid); kill "$p"
  for i in $(seq 150); do grep -q "^State:[[:space:]]*[^Z]" /proc/$p/status 2>/dev/null || break; sleep 0.2; done
  rm -rf /tmp/* /run/containerd'

docker commit \
  --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
  --change 'CMD []' \
  --change 'ENV container=docker' \
  --change "LABEL dev.rivetkube.kind-node.key=$key dev.rivetkube.kind-node.kubernetes=$K8S_VERSION" \
  "$CID" "$IMAGE-commit" >/dev/null
# systemd stops on SIGRTMIN+3 (SIGTERM makes it re-execute); docker commit
# cannot set the stop signal, a metadata-only build can.
mkdir -p "$WORK/stop"
printf 'FROM %s\nSTOPSIGNAL SIGRTMIN+3\n' "$IMAGE-commit" > "$WORK/stop/Dockerfile"
docker build -q -t "$IMAGE" "$WORK/stop" >/dev/null
docker rmi "$IMAGE-commit" >/dev/null
# Older node images (other content keys) only take disk space.
for old in $(docker images "$NODE_REPO" --format '{{.Repository}}:{{.Tag}}'); do
  [ "$old" = "$IMAGE" ] || docker rmi "$old" >/dev/null 2>&1 || true
done
log "built $IMAGE in $(( $(date +%s) - t_start ))s"
echo "$IMAGE"
