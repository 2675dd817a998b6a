package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNilReceiversDoNothing(t *testing.T) {
	t.Parallel()
	var g *Gateway
	var r *Router
	var rn *Runner
	var s *Store
	g.Request("metadata", 200, time.Millisecond)
	g.WebSocketOpened()
	g.WebSocketClosed()
	g.Resolution("id", "cache")
	r.PlacementConflict("request")
	r.DrainMoved("default")
	r.DrainRemaining("default", map[uint64]int{1: 2})
	r.Leader(true)
	rn.SetSource(nil)
	rn.Activation(nil)
	rn.Stop("sleep")
	rn.Action("ok", time.Millisecond)
	rn.ScheduleFired()
	rn.LinkFrame(true, "action")
	s.Commit(1, 0, time.Millisecond, nil)
}

func TestCollectors(t *testing.T) {
	t.Parallel()
	reg := NewRegistry()
	g, r, rn, s := NewGateway(reg), NewRouter(reg), NewRunner(reg), NewStore(reg)
	g.Request("gateway_action", 200, time.Millisecond)
	g.Request("gateway_action", 500, time.Millisecond)
	g.WebSocketOpened()
	r.DrainRemaining("default", map[uint64]int{1: 3, 2: 0})
	r.DrainRemaining("default", map[uint64]int{2: 0})
	rn.SetSource(func() RunnerGauges { return RunnerGauges{Awake: 4, Suspended: 2, Queued: 7} })
	rn.Action("ok", time.Millisecond)
	s.Commit(8, 2, time.Millisecond, nil)
	s.Commit(1, 0, time.Millisecond, errors.New("down"))

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"requests 200", testutil.ToFloat64(g.requests.WithLabelValues("gateway_action", "200")), 1},
		{"requests 500", testutil.ToFloat64(g.requests.WithLabelValues("gateway_action", "500")), 1},
		{"websockets", testutil.ToFloat64(g.websockets), 1},
		{"drain series (version 1 dropped)", float64(testutil.CollectAndCount(r.remaining)), 1},
		{"fenced", testutil.ToFloat64(s.fenced), 2},
		{"commit errors", testutil.ToFloat64(s.commits.WithLabelValues("error")), 1},
		{"actions", testutil.ToFloat64(rn.actions.WithLabelValues("ok")), 1},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge() != nil {
			seen[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	for name, want := range map[string]float64{
		"rivetkube_runner_actors_awake": 4, "rivetkube_runner_tasks_suspended": 2, "rivetkube_runner_queue_messages_waiting": 7,
	} {
		if seen[name] != want {
			t.Errorf("%s = %v, want %v", name, seen[name], want)
		}
	}
	if _, ok := seen["go_goroutines"]; !ok {
		t.Error("the Go collector is not registered")
	}
}
