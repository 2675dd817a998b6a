package integration

import (
	"context"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/metrics/scrape"
	"github.com/rivetkube/rivetkube/internal/testutil/proc"
)

// TestMetricsMoveOnProcesses starts a gateway and a runner process with
// RIVETKUBE_METRICS_LISTEN set, runs actions through the gateway, and
// scrapes both listeners: the gateway, runner, store and link metrics are
// present and move with the actions.
func TestMetricsMoveOnProcesses(t *testing.T) {
	c := newCluster(t)
	gwMetrics, rnMetrics := proc.FreeAddr(t), proc.FreeAddr(t)
	g := c.startGateway("RIVETKUBE_METRICS_LISTEN=" + gwMetrics)
	c.startRunner(1, "RIVETKUBE_METRICS_LISTEN="+rnMetrics)
	c.waitRunners(1)
	ctx := ctxFor(t, 2*time.Minute)
	h := c.client(g, client.EncodingBARE).GetOrCreate("counter", []string{"metrics"})
	if _, err := client.Call[int64](ctx, h, "increment", 1); err != nil {
		t.Fatal(err)
	}
	type probe struct {
		addr, name string
		labels     []string
	}
	probes := []probe{
		{gwMetrics, "rivetkube_gateway_requests_total", []string{"route", "gateway_action", "code", "200"}},
		{gwMetrics, "rivetkube_gateway_request_duration_seconds_count", []string{"route", "gateway_action"}},
		{rnMetrics, "rivetkube_runner_actions_total", []string{"outcome", "ok"}},
		{rnMetrics, "rivetkube_runner_link_frames_total", []string{"direction", "in", "kind", "action"}},
		{rnMetrics, "rivetkube_runner_link_frames_total", []string{"direction", "out", "kind", "result"}},
		{rnMetrics, "rivetkube_store_commits_total", []string{"result", "ok"}},
	}
	read := func() []float64 {
		out := make([]float64, len(probes))
		for i, p := range probes {
			s, err := scrape.Fetch(ctx, "http://"+p.addr+"/metrics")
			if err != nil {
				t.Fatal(err)
			}
			v, found := scrape.Sum(s, p.name, p.labels...)
			if !found {
				t.Fatalf("%s: %s%v is missing", p.addr, p.name, p.labels)
			}
			out[i] = v
		}
		return out
	}
	before := read()
	for i := 0; i < 3; i++ {
		if _, err := client.Call[int64](ctx, h, "increment", 1); err != nil {
			t.Fatal(err)
		}
	}
	after := read()
	for i, p := range probes {
		if after[i] < before[i]+3 {
			t.Errorf("%s%v moved %v -> %v with 3 actions", p.name, p.labels, before[i], after[i])
		}
	}
	for _, m := range []struct{ addr, name string }{
		{rnMetrics, "rivetkube_runner_actors_awake"},
		{gwMetrics, "go_goroutines"},
	} {
		s, err := scrape.Fetch(context.Background(), "http://"+m.addr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		if v, found := scrape.Sum(s, m.name); !found || v < 1 {
			t.Errorf("%s = %v (found %v), want at least 1", m.name, v, found)
		}
	}
	// The only gateway takes the leader lease within a few ticks.
	waitFor(t, "the leader gauge", 30*time.Second, func() bool {
		s, err := scrape.Fetch(ctx, "http://"+gwMetrics+"/metrics")
		v, _ := scrape.Sum(s, "rivetkube_gateway_leader")
		return err == nil && v == 1
	})
}
