#!/usr/bin/env bash
# Fails when the generated files (deepcopy code, CRDs, RBAC) are stale:
# regenerates them with the pinned controller-gen (make generate manifests)
# into a copy of the tree and compares.
set -euo pipefail
cd "$(dirname "$0")/.."

generated=(api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Copy only what the generators read and write, plus the module files.
mkdir -p "$work/tree"
cp go.mod go.sum Makefile "$work/tree/"
cp -a api internal controllers config "$work/tree/"
mkdir -p bin
make -s -C "$work/tree" LOCALBIN="$PWD/bin" generate manifests >/dev/null

stale=0
for g in "${generated[@]}"; do
  if ! diff -ru "$g" "$work/tree/$g" >"$work/diff" 2>&1; then
    echo "check-generated: $g is stale; run 'make generate manifests' and commit the result:" >&2
    head -40 "$work/diff" >&2
    stale=1
  fi
done
if [ ! -d config/rbac ] || [ ! -d config/crd/bases ]; then
  echo "check-generated: config/crd/bases or config/rbac is missing" >&2
  stale=1
fi
if [ "$stale" = 0 ]; then
  echo "check-generated: deepcopy, CRDs and RBAC are up to date"
fi
exit "$stale"
