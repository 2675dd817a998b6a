#!/usr/bin/env bash
# Builds CoreDNS from the Go module proxy and caches the static binary.
# Prints the path of the binary on stdout (build output goes to stderr).
# Cache: ${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}/coredns/<version>/coredns.
set -euo pipefail

COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
cache="${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}/coredns/${COREDNS_VERSION}"
mkdir -p "$cache"

exec 9>"$cache/.lock"
flock 9

if [ -x "$cache/coredns" ]; then
  echo "$cache/coredns"
  exit 0
fi

echo "coredns: building github.com/coredns/coredns@${COREDNS_VERSION} into $cache" >&2
start=$(date +%s)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 GOWORK=off GOFLAGS="-buildvcs=false" GOBIN="$tmp" \
  go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@${COREDNS_VERSION}" >&2
mv "$tmp/coredns" "$cache/coredns"
echo "coredns: done in $(( $(date +%s) - start ))s" >&2
echo "$cache/coredns"
