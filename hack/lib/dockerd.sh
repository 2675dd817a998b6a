# shellcheck shell=bash
# A Docker engine for the kind e2e (hack/e2e-kind.sh), sourced.
#
#   dockerd_ensure   use the running engine, or (root, none running) start
#                    Debian's dockerd with a small footprint on the host
#   dockerd_stop     stop the engine dockerd_ensure started (nothing else)
#
# Invariants:
# - An engine that was already running is never reconfigured or stopped.
# - The engine we start does not touch the host's firewall or routing:
#   --iptables=false (no DOCKER chains, FORWARD policy left as it is),
#   --ip-forward=false (net.ipv4.ip_forward left as it is), --bridge=none
#   (no docker0). That is enough for kind: the node container reaches the
#   host over its network's bridge, the host reaches the API server through
#   docker-proxy on 127.0.0.1, and the node pulls nothing. The host-process
#   cluster (hack/local-cluster.sh) therefore runs the same afterwards.
# - Where this process lacks a capability (CAP_SYS_RESOURCE here), its
#   default runtime is hack/lib/runc-bounded, which keeps --privileged
#   containers and execs (kind's node) within the capabilities we have.
# - It runs its own containerd (dockerd's managed one, under
#   /var/run/docker/containerd), never the local cluster's.
# - It is stopped by the PID we recorded; /var/lib/docker (the images, the
#   kind node image among them) stays, so the next run is warm.
#
# Environment: RIVETKUBE_DOCKERD_DIR (log and pid; default
# /tmp/rivetkube-dockerd), T_DOCKERD (seconds to wait for it, default 60).

DOCKERD_DIR="${RIVETKUBE_DOCKERD_DIR:-/tmp/rivetkube-dockerd}"
DOCKERD_STARTED=""

dockerd_log() { echo "dockerd: $*" >&2; }

dockerd_ensure() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    dockerd_log "no Docker engine is running and only root can start one here"
    return 1
  fi
  # A docker client alone (some machines have one in /usr/local/bin) cannot
  # start an engine: install Debian's docker.io when dockerd is missing.
  if ! command -v dockerd >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      dockerd_log "installing docker.io (apt-get; its service is not started: we start our own engine below)"
      local policy=""
      if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && policy=1
      fi
      DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -qq >&2 || true
      DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq docker.io >&2 || true
      if [ -n "$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    fi
    if ! command -v dockerd >/dev/null 2>&1; then
      dockerd_log "no Docker engine is running and dockerd is not installed (apt-get install docker.io), or use hack/e2e-local.sh"
      return 1
    fi
  fi
  if [ -S /run/containerd/containerd.sock ]; then
    # dockerd would share a system containerd found there instead of
    # running its own; say so, it still works.
    dockerd_log "note: a containerd serves /run/containerd/containerd.sock; dockerd will use it"
  fi
  mkdir -p "$DOCKERD_DIR"
  local runtime=() last bnd
  last="$(cat /proc/sys/kernel/cap_last_cap)"
  bnd=$(( 16#$(awk '/^CapBnd:/ { print $2 }' /proc/self/status) ))
  if [ "$bnd" != $(( (1 << (last + 1)) - 1 )) ]; then
    install -m 0755 "$(dirname "${BASH_SOURCE[0]}")/runc-bounded" "$DOCKERD_DIR/runc-bounded"
    runtime=(--add-runtime "rivetkube-runc=$DOCKERD_DIR/runc-bounded" --default-runtime rivetkube-runc)
    dockerd_log "capabilities missing from the bounding set; default runtime: runc-bounded"
  fi
  dockerd_log "starting dockerd (log: $DOCKERD_DIR/dockerd.log)"
  setsid dockerd \
    --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --oom-score-adjust=0 "${runtime[@]}" \
    --pidfile "$DOCKERD_DIR/dockerd.pid" \
    >>"$DOCKERD_DIR/dockerd.log" 2>&1 </dev/null &
  local pid=$! i
  echo "$pid" > "$DOCKERD_DIR/started.pid"
  DOCKERD_STARTED="$pid"
  for ((i = 0; i < ${T_DOCKERD:-60} * 2; i++)); do
    if docker info >/dev/null 2>&1; then
      dockerd_log "dockerd ready (pid $pid)"
      return 0
    fi
    if [ ! -d "/proc/$pid" ]; then
      break
    fi
    sleep 0.5
  done
  dockerd_log "dockerd did not come up; last lines of its log:"
  tail -n 30 "$DOCKERD_DIR/dockerd.log" >&2 || true
  dockerd_stop
  return 1
}

dockerd_stop() {
  local pid="$DOCKERD_STARTED" i
  [ -n "$pid" ] || return 0
  DOCKERD_STARTED=""
  rm -f "$DOCKERD_DIR/started.pid"
  [ -d "/proc/$pid" ] || return 0
  dockerd_log "stopping dockerd (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    [ -d "/proc/$pid" ] || break
    sleep 0.5
  done
  if [ -d "/proc/$pid" ]; then
    dockerd_log "dockerd did not stop in 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Bridges of user-defined networks (the kind network) outlive dockerd;
  # they hold addresses the host would otherwise route elsewhere.
  local br
  for br in $(ip -o link show type bridge 2>/dev/null | sed -n 's/^[0-9]*: \(br-[0-9a-f]\{12\}\)[:@].*/\1/p'); do
    ip link delete "$br" 2>/dev/null || true
  done
}
