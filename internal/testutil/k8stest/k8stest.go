// Package k8stest locates the Kubernetes binaries (etcd, kube-apiserver,
// kubectl) that envtest runs, as hack/k8s-binaries.sh builds and caches
// them, and decides whether a test without them skips or fails.
//
// Invariant: a test skips only when the binaries are missing and
// RIVETKUBE_REQUIRE_K8S is unset; with it set (hack/test.sh sets it) a
// missing binary fails the test.
package k8stest

import (
	"fmt"
	"os"
	"path/filepath"
)

// Version is the Kubernetes version hack/k8s-binaries.sh builds.
const Version = "v1.37.2"

// RequireEnv, when set to a non-empty value, turns missing binaries into a
// failure instead of a skip.
const RequireEnv = "RIVETKUBE_REQUIRE_K8S"

// Dir returns KUBEBUILDER_ASSETS, or the cache directory of
// hack/k8s-binaries.sh: ${RIVETKUBE_CACHE:-$HOME/.cache/rivetkube}/k8s/<Version>.
func Dir() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	base := os.Getenv("RIVETKUBE_CACHE")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache", "rivetkube")
	}
	return filepath.Join(base, "k8s", Version)
}

// Missing returns why envtest cannot run ("" when the binaries are there).
func Missing() string {
	dir := Dir()
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return fmt.Sprintf("Kubernetes test binaries not found in %s (run hack/k8s-binaries.sh or set KUBEBUILDER_ASSETS); set %s=1 to fail instead", dir, RequireEnv)
		}
	}
	return ""
}

// Required reports whether missing binaries must fail the tests.
func Required() bool { return os.Getenv(RequireEnv) != "" }
