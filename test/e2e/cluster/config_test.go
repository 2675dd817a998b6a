package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Settings, all from the environment (docs/e2e.md).
const (
	envKubeconfig = "RIVETKUBE_E2E_KUBECONFIG"
	envRequire    = "RIVETKUBE_REQUIRE_E2E"
)

// config is what the suite runs against.
type config struct {
	kubeconfig string
	root       string // repository root

	operatorImage, gatewayImage string
	runnerImages                [2]string // versions 1 and 2
	pullPolicy                  corev1.PullPolicy
	helm                        string

	// pgMode is "host" (a throwaway PostgreSQL on this machine, reached by
	// pods at hostAddr) or "incluster" (a postgres Deployment).
	pgMode   string
	hostAddr string // the host as pods see it (local cluster: cni0's 10.88.0.1)
	hostNet  string // the pods' network, trusted by the host PostgreSQL
	pgImage  string

	// direct reaches the gateway Service's ClusterIP from this process
	// instead of port-forwarding to a gateway pod.
	direct bool
	// keep leaves everything in place when the suite fails, for debugging.
	keep bool
}

func getenv(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// loadConfig reads the environment; without a kubeconfig the test skips
// (or fails with RIVETKUBE_REQUIRE_E2E=1).
func loadConfig(t *testing.T) *config {
	t.Helper()
	c := &config{kubeconfig: getenv(envKubeconfig, "")}
	if c.kubeconfig == "" {
		msg := envKubeconfig + " is not set: the cluster e2e suite needs a Kubernetes cluster it may install rivetkube into " +
			"(make test-e2e creates a kind cluster, make test-e2e-local the local host-process cluster; see docs/e2e.md)"
		if os.Getenv(envRequire) == "1" {
			t.Fatal(msg + " and " + envRequire + "=1")
		}
		t.Skip(msg + "; set " + envRequire + "=1 to make this a failure")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	c.root = root
	c.operatorImage = getenv("RIVETKUBE_E2E_OPERATOR_IMAGE", "rivetkube/operator:e2e")
	c.gatewayImage = getenv("RIVETKUBE_E2E_GATEWAY_IMAGE", "rivetkube/gateway:e2e")
	c.runnerImages[0] = getenv("RIVETKUBE_E2E_RUNNER_IMAGE_V1", "rivetkube/quickstart:e2e-v1")
	c.runnerImages[1] = getenv("RIVETKUBE_E2E_RUNNER_IMAGE_V2", "rivetkube/quickstart:e2e-v2")
	c.pullPolicy = corev1.PullPolicy(getenv("RIVETKUBE_E2E_PULL_POLICY", string(corev1.PullIfNotPresent)))
	switch c.pullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		t.Fatalf("RIVETKUBE_E2E_PULL_POLICY=%q: want Always, IfNotPresent or Never", c.pullPolicy)
	}
	c.pgMode = getenv("RIVETKUBE_E2E_POSTGRES", "incluster")
	if c.pgMode != "host" && c.pgMode != "incluster" {
		t.Fatalf("RIVETKUBE_E2E_POSTGRES=%q: want host or incluster", c.pgMode)
	}
	c.hostAddr = getenv("RIVETKUBE_E2E_HOST_ADDR", "10.88.0.1")
	c.hostNet = getenv("RIVETKUBE_E2E_HOST_NET", "10.88.0.0/16")
	c.pgImage = getenv("RIVETKUBE_E2E_POSTGRES_IMAGE", "postgres:15")
	c.direct = os.Getenv("RIVETKUBE_E2E_DIRECT") == "1"
	c.keep = os.Getenv("RIVETKUBE_E2E_KEEP") == "1"

	c.helm = getenv("RIVETKUBE_E2E_HELM", "")
	if c.helm == "" {
		// hack/tool.sh builds the pinned helm once and prints its path.
		cmd := exec.Command("bash", filepath.Join(root, "hack", "tool.sh"), "helm")
		cmd.Dir = root
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash hack/tool.sh helm: %v (set RIVETKUBE_E2E_HELM to a helm binary)", err)
		}
		c.helm = strings.TrimSpace(string(out))
	}
	return c
}

// splitImage splits "repo[:tag]" (the tag is after the last colon that
// follows the last slash); a missing tag is "latest".
func splitImage(ref string) (repo, tag string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || i < strings.LastIndex(ref, "/") {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}
