#!/usr/bin/env bash
# A real single-node Kubernetes made of host processes, for the e2e tests on
# machines where kind cannot run (no registry). Needs root, Linux, Go.
#
#   hack/local-cluster.sh up            start everything; prints the admin kubeconfig path
#   hack/local-cluster.sh down          stop everything and clean up (keeps the binary cache)
#   hack/local-cluster.sh status [--smoke]  components, node Ready, CoreDNS ready (exit 1
#                                       if not all); --smoke then runs the smoke check
#   hack/local-cluster.sh smoke         hack/local-cluster/smoke.sh: workloads, Services,
#                                       DNS, pod -> host (10.88.0.1) checks
#   hack/local-cluster.sh import TAR... ctr -n k8s.io image import each image tarball
#   hack/local-cluster.sh kubeconfig    print the admin kubeconfig path
#
# What runs: etcd, kube-apiserver (:6443), kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy (iptables) from hack/k8s-binaries.sh;
# containerd + runc + CNI plugins from Debian packages (installed when
# missing); CoreDNS (hack/local-cluster/coredns.sh) as a Deployment. Pods
# get 10.88.0.0/16 on the bridge cni0 (the host is 10.88.0.1 there),
# Services 10.0.0.0/24, cluster DNS 10.0.0.10. See docs/local-cluster.md.
#
# Environment: RIVETKUBE_CLUSTER_DIR (state, config, logs; default
# /tmp/rivetkube-cluster), RIVETKUBE_CACHE (binaries; default
# ~/.cache/rivetkube), RIVETKUBE_NODE_NAME (default: the host name),
# RIVETKUBE_HOST_IP (default: the source address of the default route).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HERE="$ROOT/hack/local-cluster"
export K8S_VERSION="${K8S_VERSION:-v1.37.2}"
export COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
DIR="${RIVETKUBE_CLUSTER_DIR:-/tmp/rivetkube-cluster}"
DIR="${DIR%/}"
CACHE="${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}"
export RIVETKUBE_CACHE="$CACHE"

POD_CIDR=10.88.0.0/16
POD_GW=10.88.0.1
SERVICE_CIDR=10.0.0.0/24
API_SERVICE_IP=10.0.0.1
DNS_IP=10.0.0.10
DOMAIN=cluster.local
API_PORT=6443
ETCD_PORT=2379
ETCD_PEER_PORT=2380
PORTS=($ETCD_PORT $ETCD_PEER_PORT $API_PORT 10248 10249 10250 10256 10257 10259)
PAUSE_IMAGE=rivetkube.local/pause:1.0
COREDNS_IMAGE="rivetkube.local/coredns:${COREDNS_VERSION}"
CNI_NET=rivetkube
CNI_BIN_DIR=/usr/lib/cni

SOCK="$DIR/containerd/containerd.sock"
ADMIN_KUBECONFIG="$DIR/admin.kubeconfig"
LOGS="$DIR/logs"
PIDS="$DIR/pids"
# Start order; down stops in the reverse order of STOP_ORDER.
COMPONENTS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

# Timeouts (seconds) of every wait.
T_ETCD=${T_ETCD:-60}
T_CONTAINERD=${T_CONTAINERD:-60}
T_APISERVER=${T_APISERVER:-120}
T_COMPONENT=${T_COMPONENT:-90}
T_NODE=${T_NODE:-120}
T_COREDNS=${T_COREDNS:-180}
T_IMPORT=${T_IMPORT:-180}

log() { echo "local-cluster: $*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

# ---------------------------------------------------------------- processes

# pidfile: "<pid> <exe>"; alive checks both, so a reused PID is not ours.
pid_of() {
  local f="$PIDS/$1.pid" pid exe
  [ -f "$f" ] || return 1
  read -r pid exe < "$f" || return 1
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  local cur
  cur="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
  [ "${cur% (deleted)}" = "$exe" ] || return 1
  echo "$pid"
}
alive() { pid_of "$1" >/dev/null; }

# start NAME BINARY ARGS...: in its own session, log to $LOGS/NAME.log.
start() {
  local name="$1" bin="$2"
  shift 2
  bin="$(readlink -f "$bin")"
  # fd 8 is the command lock (with_lock); the daemons must not hold it.
  setsid "$bin" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 8>&- &
  echo "$! $bin" > "$PIDS/$name.pid"
  log "started $name (pid $!)"
}

# stop GRACE NAME...: SIGTERM to each, wait up to GRACE seconds for all,
# then SIGKILL what is left.
stop() {
  local grace="$1" name pid i t0 left
  shift
  local -A pids=()
  t0="$(now)"
  for name in "$@"; do
    if pid="$(pid_of "$name")"; then
      pids[$name]="$pid"
      kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDS/$name.pid"
  done
  [ "${#pids[@]}" -gt 0 ] || return 0
  for ((i = 0; i < grace * 10; i++)); do
    left=0
    for name in "${!pids[@]}"; do [ -d "/proc/${pids[$name]}" ] && left=1; done
    [ "$left" = 1 ] || break
    sleep 0.1
  done
  for name in "${!pids[@]}"; do
    pid="${pids[$name]}"
    if [ -d "/proc/$pid" ]; then
      log "$name did not stop in ${grace}s; killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 50; i++)); do
    left=0
    for name in "${!pids[@]}"; do [ -d "/proc/${pids[$name]}" ] && left=1; done
    [ "$left" = 1 ] || break
    sleep 0.1
  done
  log "stopped ${!pids[*]} ($(since "$t0"))"
}

FAILED=""
# wait_for NAME TIMEOUT WHAT CMD...: until CMD succeeds; fails early when
# the component NAME has exited, and after TIMEOUT seconds.
wait_for() {
  local name="$1" timeout="$2" what="$3" t0
  shift 3
  t0="$(now)"
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && [ -f "$PIDS/$name.pid" ] && ! alive "$name"; then
      FAILED="$name"
      die "$name exited while waiting for $what"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      FAILED="$name"
      die "timed out after ${timeout}s waiting for $what"
    fi
    sleep 0.5
  done
  log "$what ($(since "$t0"))"
}

kc() { "$BIN/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=20s "$@"; }
ctr_() { timeout 60 ctr --address "$SOCK" --namespace k8s.io "$@"; }

# ---------------------------------------------------------------- prerequisites

ensure_packages() {
  local missing=0
  for c in containerd ctr runc iptables ip6tables conntrack ss openssl curl setsid flock; do
    command -v "$c" >/dev/null 2>&1 || missing=1
  done
  for p in bridge host-local portmap firewall loopback; do
    [ -x "$CNI_BIN_DIR/$p" ] || missing=1
  done
  [ "$missing" = 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "containerd, runc, CNI plugins, iptables or conntrack missing and no apt-get"
  log "installing containerd runc containernetworking-plugins iptables conntrack (apt-get)"
  local t0; t0="$(now)"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq >&2
  timeout 600 apt-get install -y -qq containerd runc containernetworking-plugins iptables conntrack iproute2 openssl curl >&2
  # The Debian package may start a system containerd; ours is separate
  # (own socket, root and state), so that one is left alone.
  log "packages installed ($(since "$t0"))"
}

host_ip() {
  if [ -n "${RIVETKUBE_HOST_IP:-}" ]; then echo "$RIVETKUBE_HOST_IP"; return; fi
  ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1
}

# ---------------------------------------------------------------- PKI and configs

# leaf NAME CN ORG EKU [SAN]: EC key and a certificate signed by our CA.
leaf() {
  local name="$1" cn="$2" org="$3" eku="$4" san="${5:-}" p="$DIR/pki"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$p/$name.key" 2>/dev/null
  openssl req -new -key "$p/$name.key" -subj "/CN=${cn}${org:+/O=$org}" -out "$p/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } > "$p/$name.ext"
  openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -extfile "$p/$name.ext" \
    -out "$p/$name.crt" 2>/dev/null
  rm -f "$p/$name.csr" "$p/$name.ext"
}

make_pki() {
  local p="$DIR/pki" ip="$1"
  mkdir -p "$p"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$p/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$p/ca.key" -subj "/CN=rivetkube-local-cluster-ca" -days 365 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$p/ca.crt" 2>/dev/null
  leaf apiserver kube-apiserver "" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$DOMAIN,DNS:localhost,DNS:$NODE_NAME,IP:127.0.0.1,IP:$ip,IP:$API_SERVICE_IP,IP:$POD_GW"
  leaf apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
  leaf admin rivetkube-admin system:masters clientAuth
  leaf kubelet "system:node:$NODE_NAME" system:nodes serverAuth,clientAuth \
    "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$ip"
  leaf controller-manager system:kube-controller-manager "" clientAuth
  leaf scheduler system:kube-scheduler "" clientAuth
  leaf kube-proxy system:kube-proxy "" clientAuth
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$p/sa.key" 2>/dev/null
  openssl pkey -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  chmod 600 "$p"/*.key
}

# kubeconfig FILE USER CERTNAME: credentials embedded, server 127.0.0.1.
kubeconfig() {
  local file="$1" user="$2" c="$DIR/pki/$3"
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rivetkube-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(base64 -w0 "$DIR/pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$c.crt")
    client-key-data: $(base64 -w0 "$c.key")
contexts:
- name: rivetkube-local
  context:
    cluster: rivetkube-local
    user: $user
current-context: rivetkube-local
EOF
  chmod 600 "$file"
}

write_configs() {
  local ip="$1"
  mkdir -p "$DIR/kubeconfig" "$DIR/config" "$DIR/cni/net.d" "$DIR/cni/ipam" \
    "$DIR/containerd/root" "$DIR/containerd/state" "$DIR/containerd/opt" \
    "$DIR/kubelet" "$DIR/pod-logs" "$DIR/etcd"
  chmod 700 "$DIR/etcd"
  kubeconfig "$ADMIN_KUBECONFIG" rivetkube-admin admin
  kubeconfig "$DIR/kubeconfig/kubelet.kubeconfig" "system:node:$NODE_NAME" kubelet
  kubeconfig "$DIR/kubeconfig/controller-manager.kubeconfig" system:kube-controller-manager controller-manager
  kubeconfig "$DIR/kubeconfig/scheduler.kubeconfig" system:kube-scheduler scheduler
  kubeconfig "$DIR/kubeconfig/kube-proxy.kubeconfig" system:kube-proxy kube-proxy

  # containerd 1.6: own root, state and socket. Without CAP_SYS_RESOURCE
  # runc cannot lower oom_score_adj, hence restrict_oom_score_adj.
  cat > "$DIR/config/containerd.toml" <<EOF
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$DIR/containerd/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "$DIR/containerd/runc"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "$CNI_BIN_DIR"
  conf_dir = "$DIR/cni/net.d"
  max_conf_num = 1
EOF

  # Bridge cni0 with the host as gateway 10.88.0.1; portmap for hostPorts;
  # firewall so a FORWARD policy of DROP (dockerd) does not cut pods off.
  cat > "$DIR/cni/net.d/10-$CNI_NET.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$CNI_NET",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GW"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"}
  ]
}
EOF

  cat > "$DIR/config/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$SOCK
clusterDNS: [$DNS_IP]
clusterDomain: $DOMAIN
resolvConf: /etc/resolv.conf
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $DIR/pki/kubelet.crt
tlsPrivateKeyFile: $DIR/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization:
  mode: Webhook
rotateCertificates: false
serverTLSBootstrap: false
podLogsDir: $DIR/pod-logs
volumePluginDir: $DIR/kubelet/volume-plugins
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 110
serializeImagePulls: false
EOF

  cat > "$DIR/config/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $DIR/kubeconfig/kube-proxy.kubeconfig
mode: iptables
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
detectLocalMode: ClusterCIDR
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack:
  maxPerCore: 0
EOF

  sed -e "s#@IMAGE@#$COREDNS_IMAGE#g" -e "s#@DNS_IP@#$DNS_IP#g" -e "s#@DOMAIN@#$DOMAIN#g" \
    "$HERE/coredns.yaml.in" > "$DIR/config/coredns.yaml"
}

# ---------------------------------------------------------------- images

build_images() {
  local goarch out="$DIR/images"
  goarch="$(go env GOARCH)"
  mkdir -p "$out" "$DIR/bin"
  (cd "$ROOT" && CGO_ENABLED=0 go build -o "$DIR/bin/imgbuild" ./hack/imgbuild)
  (cd "$ROOT" && CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$DIR/bin/pause" ./hack/local-cluster/pause)
  "$DIR/bin/imgbuild" -binary "$DIR/bin/pause" -tag "$PAUSE_IMAGE" -platform "linux/$goarch" \
    -path /pause -label org.opencontainers.image.title=rivetkube-local-pause -o "$out/pause.tar" >&2
  "$DIR/bin/imgbuild" -binary "$COREDNS_BIN" -tag "$COREDNS_IMAGE" -platform "linux/$goarch" \
    -path /coredns -label org.opencontainers.image.title=coredns -o "$out/coredns.tar" >&2
}

import_images() {
  local tar
  for tar in "$@"; do
    [ -f "$tar" ] || die "import: no such file $tar"
    timeout "$T_IMPORT" ctr --address "$SOCK" --namespace k8s.io images import "$tar" >&2 \
      || die "import of $tar failed or timed out after ${T_IMPORT}s"
  done
}

# ---------------------------------------------------------------- up

http_ok() { curl -fsS --max-time 3 "$@"; }

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

coredns_ready() {
  local n
  n="$(kc -n kube-system get deployment coredns -o jsonpath='{.status.availableReplicas}' 2>/dev/null)"
  [ -n "$n" ] && [ "$n" -ge 1 ]
}

any_alive() {
  local c
  for c in "${COMPONENTS[@]}"; do alive "$c" && return 0; done
  return 1
}

check_ports() {
  local p busy=""
  for p in "${PORTS[@]}"; do
    if [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then busy="$busy $p"; fi
  done
  [ -z "$busy" ] || die "TCP port(s)$busy already in use; is another cluster or etcd running?"
}

UP_DONE=0
on_up_exit() {
  local rc=$?
  [ "$UP_DONE" = 1 ] && return
  trap - EXIT
  log "up failed (exit $rc)"
  if [ -n "$FAILED" ] && [ -f "$LOGS/$FAILED.log" ]; then
    log "last lines of $LOGS/$FAILED.log:"
    tail -n 40 "$LOGS/$FAILED.log" >&2 || true
  fi
  log "stopping what was started; logs stay in $LOGS"
  teardown || true
  exit "$rc"
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "must run as root (containerd, kubelet, iptables)"
  [ "${#SOCK}" -lt 100 ] || die "RIVETKUBE_CLUSTER_DIR $DIR is too long for a unix socket path"
  if any_alive; then
    die "already up (state in $DIR); run 'hack/local-cluster.sh down' first"
  fi
  if [ -d "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null | grep -v '^logs$' || true)" ]; then
    log "cleaning up leftovers of an earlier cluster in $DIR"
    teardown
  fi
  local t_all t0 ip
  t_all="$(now)"
  check_ports
  ensure_packages

  mkdir -p "$DIR" "$PIDS"
  rm -rf "$LOGS"
  mkdir -p "$LOGS"
  trap on_up_exit EXIT

  t0="$(now)"
  BIN="$("$ROOT/hack/k8s-binaries.sh" --all)"
  COREDNS_BIN="$("$HERE/coredns.sh")"
  echo "$BIN" > "$DIR/bin-dir"
  log "binaries ready in $BIN ($(since "$t0"))"

  t0="$(now)"
  build_images
  log "pause and CoreDNS images built ($(since "$t0"))"

  ip="$(host_ip)"
  [ -n "$ip" ] || die "cannot find the host IP (set RIVETKUBE_HOST_IP)"
  t0="$(now)"
  make_pki "$ip"
  write_configs "$ip"
  log "PKI and configs written for node $NODE_NAME, host IP $ip ($(since "$t0"))"

  # Networking the bridge CNI plugin and kube-proxy rely on. ip_forward is
  # left on by down (other software on the host may rely on it too).
  modprobe br_netfilter 2>/dev/null || true
  modprobe overlay 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1
  [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || sysctl -qw net.bridge.bridge-nf-call-iptables=1
  if ! ip link show cni0 >/dev/null 2>&1; then
    ip link add cni0 type bridge
  fi
  ip addr replace "$POD_GW/16" dev cni0
  ip link set cni0 up

  t0="$(now)"
  start etcd "$BIN/etcd" --name local --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --quota-backend-bytes 4294967296
  start containerd "$(command -v containerd)" --config "$DIR/config/containerd.toml"
  wait_for etcd "$T_ETCD" "etcd healthy" http_ok "http://127.0.0.1:$ETCD_PORT/health"
  wait_for containerd "$T_CONTAINERD" "containerd serving" ctr_ version

  t0="$(now)"
  import_images "$DIR/images/pause.tar" "$DIR/images/coredns.tar"
  log "images imported into containerd ($(since "$t0"))"

  local p="$DIR/pki"
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 0.0.0.0 --secure-port "$API_PORT" --advertise-address "$ip" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc.$DOMAIN" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true --profiling=false
  wait_for kube-apiserver "$T_APISERVER" "kube-apiserver ready" \
    http_ok --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" "https://127.0.0.1:$API_PORT/readyz"

  local k="$DIR/kubeconfig"
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$k/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$k/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$k/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --root-ca-file "$p/ca.crt" --service-account-private-key-file "$p/sa.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false \
    --profiling=false
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$k/scheduler.kubeconfig" \
    --authentication-kubeconfig "$k/scheduler.kubeconfig" \
    --authorization-kubeconfig "$k/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false
  start kubelet "$BIN/kubelet" \
    --config "$DIR/config/kubelet.yaml" --kubeconfig "$k/kubelet.kubeconfig" \
    --root-dir "$DIR/kubelet" --cert-dir "$DIR/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$ip"
  start kube-proxy "$BIN/kube-proxy" --config "$DIR/config/kube-proxy.yaml"
  wait_for kube-controller-manager "$T_COMPONENT" "kube-controller-manager healthy" http_ok -k https://127.0.0.1:10257/healthz
  wait_for kube-scheduler "$T_COMPONENT" "kube-scheduler healthy" http_ok -k https://127.0.0.1:10259/healthz
  wait_for kubelet "$T_COMPONENT" "kubelet healthy" http_ok http://127.0.0.1:10248/healthz
  wait_for kube-proxy "$T_COMPONENT" "kube-proxy healthy" http_ok http://127.0.0.1:10256/healthz
  wait_for kubelet "$T_NODE" "node $NODE_NAME Ready" node_ready

  t0="$(now)"
  kc apply -f "$DIR/config/coredns.yaml" >&2
  wait_for "" "$T_COREDNS" "CoreDNS available" coredns_ready

  UP_DONE=1
  trap - EXIT
  log "cluster up in $(since "$t_all"); logs in $LOGS"
  log "  export KUBECONFIG=$ADMIN_KUBECONFIG"
  log "  host address for pods: $POD_GW (cni0); Services $SERVICE_CIDR; DNS $DNS_IP"
  echo "$ADMIN_KUBECONFIG"
}

# ---------------------------------------------------------------- down

# Mount points at or under $1, deepest first.
mounts_under() {
  awk -v d="$1" '{ p = $5; gsub(/\\040/, " ", p); if (p == d || index(p, d "/") == 1) print p }' /proc/self/mountinfo | sort -r
}

# Every process in the kubepods cgroups (pods' containers and sandboxes).
pod_pids() {
  local f
  for f in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$f" ] || continue
    find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -un
}

# The network namespaces (bind mounts under /var/run/netns) of our pods:
# from containerd's container specs, from the namespaces our pods'
# processes are in, and those whose eth0 is a veth on our cni0 (found even
# when containerd and the pods are gone).
pod_netns() {
  {
    local f n peer
    if ip link show cni0 >/dev/null 2>&1; then
      for f in /var/run/netns/cni-*; do
        [ -e "$f" ] || continue
        n="${f##*/}"
        peer="$(ip -n "$n" -o link show eth0 2>/dev/null | sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p')"
        [ -n "$peer" ] || continue
        if ip -o link show 2>/dev/null | grep -q "^$peer: .* master cni0 "; then echo "$f"; fi
      done
    fi
    if alive containerd; then
      local id
      for id in $(ctr_ containers ls -q 2>/dev/null); do
        ctr_ containers info "$id" 2>/dev/null | grep -o '"/var/run/netns/cni-[0-9a-f-]*"' | tr -d '"' || true
      done
    fi
    local pid ino
    for pid in $(pod_pids); do
      ino="$(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null)" || continue
      for f in /var/run/netns/cni-*; do
        [ -e "$f" ] || continue
        [ "$(stat -L -c %i "$f" 2>/dev/null)" = "$ino" ] && echo "$f"
      done
    done
  } | sort -u
}

# Flush and delete the KUBE-* and CNI-* chains (kube-proxy, kubelet, CNI
# plugins) and the rules that jump to them; other chains are not touched.
clean_iptables() {
  local ipt table chain rule
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for table in filter nat mangle raw; do
      "$ipt" -w 5 -t "$table" -S >/dev/null 2>&1 || continue
      # Rules in any chain that jump to one of ours.
      { "$ipt" -w 5 -t "$table" -S 2>/dev/null || true; } | grep -E -- '^-A .*-j (KUBE|CNI)-' \
        | { grep -Ev '^-A (KUBE|CNI)-' || true; } | while read -r rule; do
          eval "\"$ipt\" -w 5 -t \"$table\" -D ${rule#-A }" 2>/dev/null || true
        done || true
      for chain in $("$ipt" -w 5 -t "$table" -S 2>/dev/null | sed -n 's/^-N \(\(KUBE\|CNI\)-[^ ]*\)$/\1/p'); do
        "$ipt" -w 5 -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$ipt" -w 5 -t "$table" -S 2>/dev/null | sed -n 's/^-N \(\(KUBE\|CNI\)-[^ ]*\)$/\1/p'); do
        "$ipt" -w 5 -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

leftover_chains() {
  local ipt table
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null 2>&1 || continue
    for table in filter nat mangle raw; do
      "$ipt" -w 5 -t "$table" -S 2>/dev/null | sed -n "s/^-N \(\(KUBE\|CNI\)-[^ ]*\)$/$ipt $table \1/p"
    done
  done
}

# Stop everything (reverse start order), then clean up the host.
teardown() {
  local pid netns c i
  BIN="$(cat "$DIR/bin-dir" 2>/dev/null || true)"
  # Collect pods' network namespaces while containerd can still answer.
  netns="$(pod_netns || true)"
  # Nothing may restart containers or rewrite rules while we clean up.
  stop 15 kubelet kube-proxy kube-scheduler kube-controller-manager
  pid="$(pod_pids)"
  if [ -n "$pid" ]; then
    log "killing $(echo "$pid" | wc -w) pod process(es)"
    kill -KILL $pid 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do [ -z "$(pod_pids)" ] && break; sleep 0.1; done
  fi
  stop 15 containerd
  # containerd's shims outlive it; ours are the ones serving our socket.
  for pid in $(grep -lzF -- "$SOCK" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "" ] && \
       tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q '^[^ ]*containerd-shim'; then
      log "killing containerd shim $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  stop 15 kube-apiserver etcd

  # kube-proxy's own cleanup (iptables, ipvs and nftables), then whatever
  # KUBE-*/CNI-* chains are left (kubelet's and the CNI plugins').
  if [ -n "$BIN" ] && [ -x "$BIN/kube-proxy" ]; then
    timeout 60 "$BIN/kube-proxy" --cleanup >>"$LOGS/kube-proxy-cleanup.log" 2>&1 || true
  fi
  clean_iptables

  # Mounts: pods' network namespaces, then everything under $DIR
  # (container root file systems, shm, kubelet volumes).
  for c in $netns; do
    umount "$c" 2>/dev/null || umount -l "$c" 2>/dev/null || true
    rm -f "$c"
  done
  for c in $(mounts_under "$DIR"); do
    umount "$c" 2>/dev/null || umount -l "$c" 2>/dev/null || log "cannot unmount $c"
  done
  if ip link show cni0 >/dev/null 2>&1; then
    ip link delete cni0 || log "cannot delete cni0"
  fi
  # libcni's result cache: our network's entries and the loopback ones of
  # the same sandboxes.
  for c in /var/lib/cni/results/"$CNI_NET"-*; do
    [ -e "$c" ] || continue
    i="${c#/var/lib/cni/results/$CNI_NET-}"
    rm -f "$c" /var/lib/cni/results/cni-loopback-"${i%-*}"-lo
  done
  # Shim socket directory (hard-wired in containerd 1.6), when empty.
  rmdir /run/containerd/s /run/containerd 2>/dev/null || true

  # kubepods cgroups, deepest first (a cgroup goes once its tasks are gone).
  for ((i = 0; i < 20; i++)); do
    local left=0 d
    for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
      [ -d "$d" ] || continue
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$d" ] && left=1
    done
    [ "$left" = 0 ] && break
    pid="$(pod_pids)"
    [ -z "$pid" ] || kill -KILL $pid 2>/dev/null || true
    sleep 0.5
  done

  # State goes; logs stay for a look after the fact.
  if [ -n "$(mounts_under "$DIR")" ]; then
    log "mounts left under $DIR; not deleting its state:"
    mounts_under "$DIR" >&2
  elif [ -d "$DIR" ]; then
    find "$DIR" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
  fi
}

cmd_down() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  if [ ! -d "$DIR" ]; then
    log "no cluster state in $DIR; nothing to do"
  else
    mkdir -p "$LOGS"
    local t0; t0="$(now)"
    teardown
    log "down in $(since "$t0")"
  fi
  local problems=0 left
  left="$(leftover_chains)"
  if [ -n "$left" ]; then log "KUBE-/CNI- chains left:"; echo "$left" >&2; problems=1; fi
  if ip link show cni0 >/dev/null 2>&1; then log "cni0 still exists"; problems=1; fi
  for d in /sys/fs/cgroup/*/kubepods; do
    if [ -d "$d" ]; then log "cgroup $d still exists"; problems=1; fi
  done
  return "$problems"
}

# ---------------------------------------------------------------- status

cmd_status() {
  local c up=1 pid
  BIN="$(cat "$DIR/bin-dir" 2>/dev/null || true)"
  for c in "${COMPONENTS[@]}"; do
    if pid="$(pid_of "$c")"; then
      printf '%-24s running (pid %s)\n' "$c" "$pid"
    else
      printf '%-24s not running\n' "$c"
      up=0
    fi
  done
  if [ "$up" = 0 ]; then
    echo "cluster: down"
    return 1
  fi
  local ready=1
  if node_ready; then echo "node $NODE_NAME: Ready"; else echo "node $NODE_NAME: not Ready"; ready=0; fi
  if coredns_ready; then echo "CoreDNS: available"; else echo "CoreDNS: not available"; ready=0; fi
  echo "kubeconfig: $ADMIN_KUBECONFIG"
  if [ "$ready" = 1 ]; then echo "cluster: up"; else echo "cluster: up, not ready"; return 1; fi
}

# ---------------------------------------------------------------- main

NODE_NAME="${RIVETKUBE_NODE_NAME:-$(hostname | tr '[:upper:]' '[:lower:]')}"
BIN=""
COREDNS_BIN=""

# One up/down/import at a time.
with_lock() {
  exec 8>"$DIR.lock"
  flock -w 120 8 || die "another local-cluster command has held $DIR.lock for 2 minutes"
}

case "${1:-}" in
  up) with_lock; cmd_up ;;
  down) with_lock; cmd_down ;;
  status)
    cmd_status
    if [ "${2:-}" = --smoke ]; then exec "$HERE/smoke.sh"; fi
    ;;
  smoke) shift; exec "$HERE/smoke.sh" "$@" ;;
  import)
    shift
    [ "$#" -gt 0 ] || die "usage: $0 import TAR..."
    alive containerd || die "the cluster is not up (containerd not running)"
    with_lock
    import_images "$@"
    ;;
  kubeconfig)
    [ -f "$ADMIN_KUBECONFIG" ] || die "no kubeconfig at $ADMIN_KUBECONFIG; run up first"
    echo "$ADMIN_KUBECONFIG"
    ;;
  -h|--help|help) sed -n '2,24p' "$0" ;;
  *) sed -n '2,24p' "$0" >&2; exit 2 ;;
esac
