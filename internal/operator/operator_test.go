package operator

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/rivetkube/rivetkube/internal/testutil/k8stest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestManagerServesProbesMetricsAndElectsALeader starts the operator's
// manager as the binary does (leader election on) against a real API
// server and checks the probes, the metrics endpoint and the Lease.
func TestManagerServesProbesMetricsAndElectsALeader(t *testing.T) {
	if why := k8stest.Missing(); why != "" {
		if k8stest.Required() {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: k8stest.Dir(), CRDDirectoryPaths: []string{"../../config/crd/bases"},
		ErrorIfCRDPathMissing: true, ControlPlaneStartTimeout: 3 * time.Minute,
	}
	rc, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })

	metrics, probes := freeAddr(t), freeAddr(t)
	mgr, err := NewManager(Config{
		MetricsAddr: metrics, ProbeAddr: probes, LeaderElect: true, LeaderElectionNS: "default",
		RestConfig: rc, Logger: zap.New(zap.WriteTo(io.Discard)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	select {
	case <-mgr.Elected():
	case <-time.After(2 * time.Minute):
		t.Fatal("not elected leader")
	}
	c, err := client.New(rc, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	var lease coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "operator.rivetkube.dev"}, &lease); err != nil {
		t.Fatalf("leader lease: %v", err)
	}
	get := func(url string) (int, string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(url)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", url, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get("http://" + probes + p); code != http.StatusOK {
			t.Errorf("%s = %d %s", p, code, body)
		}
	}
	code, body := get("http://" + metrics + "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "controller_runtime_reconcile_total") {
		t.Errorf("/metrics = %d without controller metrics", code)
	}
}
