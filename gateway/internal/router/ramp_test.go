package router

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// TestRampSplitsAndRollsBack ramps version 2 in to half of the actors,
// checks the split holds, then rolls back (a ramp at 0%) and checks every
// actor went back; new actors follow NewPercent.
func TestRampSplitsAndRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	runners := map[string]*drainRunner{}
	for id, ver := range map[string]uint64{"v1": 1, "v2": 2} {
		if err := bs.UpsertRunner(ctx, store.Runner{ID: id, Pool: "default", Version: ver, Address: id, Names: []string{"counter"}}); err != nil {
			t.Fatal(err)
		}
		runners[id] = &drainRunner{fakeRunner: fakeRunner{id: id, st: bs, done: make(chan struct{})},
			pause: 5 * time.Millisecond, awake: map[string]uint64{}, woken: map[string]int{}}
	}
	const n = 100
	for i := range n {
		a, err := bs.CreateActor(ctx, store.ActorSpec{ID: fmt.Sprintf("a%03d", i), Namespace: "default", Name: "counter", Key: []string{fmt.Sprint(i)}, Pool: "default"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := bs.Place(ctx, a.ID, "v1", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := runners["v1"].Wake(ctx, hostapi.Target{ActorID: a.ID, Generation: p.Generation}); err != nil {
			t.Fatal(err)
		}
	}
	rt := New(Config{
		Store: bs,
		Dial: func(_ context.Context, r store.Runner) (Caller, error) {
			if dr, ok := runners[r.ID]; ok {
				return dr, nil
			}
			return nil, errors.New("no such runner")
		},
		Lease: time.Minute, WaitTimeout: 5 * time.Second, RunnerRefresh: 20 * time.Millisecond, ID: "gw",
	})
	t.Cleanup(rt.Close)
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); rt.RunBackground(bctx) }()
	t.Cleanup(func() { cancel(); <-done })

	on := func(id string) int {
		as, err := bs.ActorsOnRunner(ctx, id, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}
	settle := func(what string, v1, v2 int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for on("v1") != v1 || on("v2") != v2 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d actors on v1 and %d on v2, want %d and %d", what, on("v1"), on("v2"), v1, v2)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// And it stays there: the drain does not overshoot.
		time.Sleep(600 * time.Millisecond)
		if on("v1") != v1 || on("v2") != v2 {
			t.Fatalf("%s: moved on to %d on v1 and %d on v2, want it to stay at %d and %d", what, on("v1"), on("v2"), v1, v2)
		}
	}
	newOn := func(percent int32, key string) string {
		a, _, err := rt.GetOrCreateActor(ctx, store.ActorSpec{ID: "n-" + key, Namespace: "default", Name: "counter", Key: []string{key}, Pool: "default"})
		if err != nil {
			t.Fatal(err)
		}
		return a.RunnerID
	}
	route := func(newPct, movePct int32) {
		t.Helper()
		if err := rt.SetPoolRouting(ctx, store.PoolConfig{Pool: "default", Ready: []uint64{2, 1}, DrainRate: 1000,
			Ramp: &store.Ramp{Version: 2, NewPercent: newPct, MovePercent: movePct}}); err != nil {
			t.Fatal(err)
		}
	}

	route(0, 50)
	settle("ramp to 50%", 50, 50)
	for i := range 5 {
		if got := newOn(0, fmt.Sprint("zero-", i)); got != "v1" {
			t.Fatalf("a new actor at 0%% went to %s", got)
		}
	}
	// Rolled back: every actor moves back, new ones stay on version 1.
	route(0, 0)
	settle("rollback", n+5, 0)
	route(100, 100)
	settle("ramp to 100%", 0, n+5)
	if got := newOn(100, "hundred"); got != "v2" {
		t.Fatalf("a new actor at 100%% went to %s", got)
	}
	// Invalid ramps are refused with a clear error.
	for _, bad := range []store.PoolConfig{
		{Pool: "default", Ready: []uint64{1}, Ramp: &store.Ramp{Version: 1}},
		{Pool: "default", Ready: []uint64{2, 1}, Ramp: &store.Ramp{Version: 3}},
		{Pool: "default", Ready: []uint64{2, 1}, Ramp: &store.Ramp{Version: 2, NewPercent: 120}},
	} {
		if err := rt.SetPoolRouting(ctx, bad); err == nil {
			t.Fatalf("SetPoolRouting(%+v): no error", bad.Ramp)
		}
	}
}
