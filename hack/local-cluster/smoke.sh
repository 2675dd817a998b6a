#!/usr/bin/env bash
# Smoke check of a running local cluster (hack/local-cluster.sh up):
# builds the smokeserver image with hack/imgbuild, imports it, and in the
# namespace rk-smoke checks that
#   - a Deployment of it becomes Available,
#   - its ClusterIP Service answers from the host, and pod IPs do too,
#   - another pod reaches it by DNS name (FQDN and short name) and by pod IP,
#   - a pod reaches the apiserver through the kubernetes Service (with its
#     service account token),
#   - a pod reaches a host listener at 10.88.0.1:PORT, directly and through
#     a selector-less Service + EndpointSlice (how the e2e suite exposes the
#     host's PostgreSQL).
# Deletes the namespace and stops the host listener at the end. Exit 1 when
# any check fails. SMOKE_KEEP=1 keeps the namespace.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${RIVETKUBE_CLUSTER_DIR:-/tmp/rivetkube-cluster}"
DIR="${DIR%/}"
NS=rk-smoke
IMAGE=rivetkube.local/smokeserver:1.0
HOST_ADDR=10.88.0.1
HOST_PORT="${SMOKE_HOST_PORT:-18080}"

log() { echo "smoke: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }

KCFG="$("$ROOT/hack/local-cluster.sh" kubeconfig)"
BIN="$(cat "$DIR/bin-dir")"
kc() { "$BIN/kubectl" --kubeconfig "$KCFG" --request-timeout=30s "$@"; }

t_all="$(now)"
t0="$(now)"
mkdir -p "$DIR/bin" "$DIR/images"
(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$DIR/bin/smokeserver" ./hack/local-cluster/smokeserver)
(cd "$ROOT" && go run ./hack/imgbuild -binary "$DIR/bin/smokeserver" -tag "$IMAGE" \
  -platform "linux/$(go env GOARCH)" -o "$DIR/images/smokeserver.tar" >&2)
"$ROOT/hack/local-cluster.sh" import "$DIR/images/smokeserver.tar"
log "image built and imported ($(since "$t0"))"

# The host listener pods must reach at the cni0 address.
"$DIR/bin/smokeserver" serve "$HOST_ADDR:$HOST_PORT" 2>>"$DIR/logs/smoke-host-listener.log" &
listener=$!
cleanup() {
  kill "$listener" 2>/dev/null || true
  if [ "${SMOKE_KEEP:-0}" != 1 ]; then
    kc delete namespace "$NS" --ignore-not-found --wait=true --timeout=90s >/dev/null 2>&1 || \
      log "namespace $NS not deleted within 90s"
  fi
}
trap cleanup EXIT

kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $NS
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: smoke
  namespace: $NS
spec:
  replicas: 2
  selector:
    matchLabels: {app: smoke}
  template:
    metadata:
      labels: {app: smoke}
    spec:
      containers:
      - name: smoke
        image: $IMAGE
        imagePullPolicy: Never
        args: [serve, ":8080"]
        ports: [{containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /ready, port: 8080}
          periodSeconds: 1
        securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: client
  namespace: $NS
spec:
  replicas: 1
  selector:
    matchLabels: {app: client}
  template:
    metadata:
      labels: {app: client}
    spec:
      containers:
      - name: client
        image: $IMAGE
        imagePullPolicy: Never
        args: [serve, ":9090"]
        securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
---
apiVersion: v1
kind: Service
metadata:
  name: smoke
  namespace: $NS
spec:
  selector: {app: smoke}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: host-echo
  namespace: $NS
spec:
  ports: [{port: 80, targetPort: $HOST_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: host-echo-1
  namespace: $NS
  labels: {kubernetes.io/service-name: host-echo}
addressType: IPv4
endpoints:
- addresses: [$HOST_ADDR]
ports:
- {port: $HOST_PORT, protocol: TCP}
EOF

t0="$(now)"
kc -n "$NS" wait --for=condition=Available deployment/smoke deployment/client --timeout=120s >/dev/null
log "Deployments smoke (2 replicas) and client Available ($(since "$t0"))"

failed=0
# check WHAT CMD...: retried for up to 30s (Service rules may lag a little).
check() {
  local what="$1" out t0 deadline
  shift
  t0="$(now)"
  deadline=$(( $(date +%s) + 30 ))
  until out="$("$@" 2>&1)"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "FAIL $what: $(echo "$out" | tail -n 3)"
      failed=1
      return 0
    fi
    sleep 1
  done
  log "ok   $what ($(since "$t0")): $(echo "$out" | head -n 1)"
}
in_client() { timeout 30 "$BIN/kubectl" --kubeconfig "$KCFG" -n "$NS" exec deploy/client -- /app get "$1"; }

cluster_ip="$(kc -n "$NS" get service smoke -o jsonpath='{.spec.clusterIP}')"
pod_ip="$(kc -n "$NS" get pods -l app=smoke -o jsonpath='{.items[0].status.podIP}')"

check "host -> ClusterIP $cluster_ip:80" curl -fsS --max-time 5 "http://$cluster_ip/"
check "host -> pod IP $pod_ip:8080" curl -fsS --max-time 5 "http://$pod_ip:8080/"
check "pod -> pod IP $pod_ip:8080" in_client "http://$pod_ip:8080/"
check "pod -> smoke.$NS.svc.cluster.local" in_client "http://smoke.$NS.svc.cluster.local/"
check "pod -> smoke (search path)" in_client "http://smoke/"
check "pod -> apiserver https://kubernetes.default.svc/version" in_client "https://kubernetes.default.svc/version"
check "pod -> host $HOST_ADDR:$HOST_PORT" in_client "http://$HOST_ADDR:$HOST_PORT/direct"
check "pod -> host-echo.$NS (selector-less Service to the host)" in_client "http://host-echo.$NS.svc.cluster.local/via-service"
check "host -> host-echo ClusterIP" curl -fsS --max-time 5 \
  "http://$(kc -n "$NS" get service host-echo -o jsonpath='{.spec.clusterIP}')/from-host"

if [ "$failed" = 0 ]; then
  log "all checks passed ($(since "$t_all"))"
else
  log "some checks FAILED ($(since "$t_all"))"
  exit 1
fi
