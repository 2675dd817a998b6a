package router

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
)

// stoppingRunner is a fakeRunner whose Stop puts the actor to sleep in the
// store, as a real runner's drain does.
type stoppingRunner struct{ *fakeRunner }

func (s stoppingRunner) Stop(ctx context.Context, t hostapi.Target) error {
	return s.st.Deactivate(ctx, t.ActorID, t.Generation)
}

// TestDrainMetrics drains version 1 onto version 2 with the leader's drain
// tick and checks the drain-progress metrics: every actor counted as
// moved, and the version-1 gauge down to 0.
func TestDrainMetrics(t *testing.T) {
	f := newFixture(t, "r1")
	ctx := context.Background()
	if err := f.st.UpsertRunner(ctx, store.Runner{ID: "r2", Pool: "default", Version: 2, Address: "r2", Names: []string{"counter"}}); err != nil {
		t.Fatal(err)
	}
	f.runners["r2"] = &fakeRunner{id: "r2", st: f.st.Store, done: make(chan struct{})}
	reg := prometheus.NewRegistry()
	m := metrics.NewRouter(reg)
	rt := New(Config{
		Store: f.st,
		Dial: func(_ context.Context, r store.Runner) (Caller, error) {
			if fr, ok := f.runners[r.ID]; ok {
				return stoppingRunner{fr}, nil
			}
			return nil, errors.New("no such runner")
		},
		Lease: time.Minute, WaitTimeout: 5 * time.Second, RunnerRefresh: time.Millisecond,
		Metrics: m,
	})
	t.Cleanup(rt.Close)
	if err := rt.SetPoolRouting(ctx, store.PoolConfig{Pool: "default", Ready: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := 0; i < n; i++ {
		a, _, err := rt.GetOrCreateActor(ctx, store.ActorSpec{ID: fmt.Sprintf("d%d", i), Namespace: "default", Name: "counter",
			Key: []string{fmt.Sprint(i)}, Pool: "default"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := call(t, rt, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := rt.SetPoolRouting(ctx, store.PoolConfig{Pool: "default", Ready: []uint64{2}, Draining: []uint64{1}, DrainRate: 1000}); err != nil {
		t.Fatal(err)
	}
	dr := newDrainer(rt)
	t.Cleanup(dr.close)
	// The tick measures before its dispatcher moves anything.
	dr.tick(ctx)
	if remaining := m.RemainingForTest("default", 1); remaining != n {
		t.Errorf("remaining on version 1 before the moves = %v, want %d", remaining, n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(m.MovedForTest("default")) < n {
		if time.Now().After(deadline) {
			t.Fatalf("actors moved = %v, want %d", testutil.ToFloat64(m.MovedForTest("default")), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if moved := testutil.ToFloat64(m.MovedForTest("default")); moved != n {
		t.Errorf("actors moved = %v, want %d", moved, n)
	}
	// A later tick sees version 1 empty (the tick reads the routing view,
	// whose counts are at most countEvery refreshes old).
	deadline = time.Now().Add(10 * time.Second)
	for {
		dr.tick(ctx)
		if m.RemainingForTest("default", 1) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remaining on version 1 after the drain = %v, want 0", m.RemainingForTest("default", 1))
		}
		time.Sleep(time.Millisecond)
	}
	dr.stopAll()
}
