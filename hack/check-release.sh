#!/usr/bin/env bash
# Release checks (run by hack/test.sh, `make check-release`):
#   1. the chart's generated CRD and RBAC templates match config/ (make chart);
#   2. dist/install.yaml is what `make build-installer` renders today;
#   3. helm lint and the chart render tests (./charts) with the pinned helm,
#      and the chart packages.
# Builds helm and kustomize from the Go module proxy on first use
# (hack/tool.sh, cached under ${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}).
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail=0

echo "check-release: chart templates against config/"
if ! go run ./hack/chartsync -check; then
  fail=1
fi

app="$(sed -n 's/^appVersion: *"*\([^"]*\)"* *$/\1/p' charts/rivetkube/Chart.yaml)"
echo "check-release: dist/install.yaml against config/default (rivetkube/operator:${app})"
OPERATOR_IMG="rivetkube/operator:${app}" bash hack/build-installer.sh "$work/install.yaml"
if ! diff -u dist/install.yaml "$work/install.yaml" > "$work/install.diff"; then
  echo "check-release: dist/install.yaml is stale; run 'make build-installer' and commit it:" >&2
  head -40 "$work/install.diff" >&2
  fail=1
fi

helm="$(bash hack/tool.sh helm)"
echo "check-release: $("$helm" version --short) lint, render tests and package"
HELM="$helm" RIVETKUBE_REQUIRE_HELM=1 go test -count=1 ./charts/...
"$helm" package charts/rivetkube --destination "$work" >/dev/null

if [ "$fail" = 0 ]; then
  echo "check-release: chart, installer and helm tests are good"
fi
exit "$fail"
