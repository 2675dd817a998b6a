package router

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// zeroPool is a pool with no runner at all (scaled to zero): runners join
// while requests wait.
type zeroPool struct {
	f  *fixture
	mu sync.Mutex
	rs map[string]*fakeRunner
}

func newZeroPool(t *testing.T) *zeroPool {
	t.Helper()
	return &zeroPool{f: newFixture(t), rs: map[string]*fakeRunner{}}
}

func (z *zeroPool) router(cfg Config) *Router {
	cfg.Store = z.f.st
	cfg.Dial = func(_ context.Context, r store.Runner) (Caller, error) {
		z.mu.Lock()
		defer z.mu.Unlock()
		if fr, ok := z.rs[r.ID]; ok {
			return fr, nil
		}
		return nil, errors.New("no such runner")
	}
	cfg.Lease = time.Minute
	cfg.RunnerRefresh = 20 * time.Millisecond
	cfg.DemandInterval = time.Millisecond
	return New(cfg)
}

// join registers a runner of the default pool.
func (z *zeroPool) join(t *testing.T, id string) {
	t.Helper()
	z.mu.Lock()
	z.rs[id] = &fakeRunner{id: id, st: z.f.st.Store, done: make(chan struct{})}
	z.mu.Unlock()
	if err := z.f.st.UpsertRunner(context.Background(), store.Runner{ID: id, Pool: "default", Version: 1, Address: id, Names: []string{"counter"}}); err != nil {
		t.Fatal(err)
	}
}

func (z *zeroPool) demand(t *testing.T) (time.Duration, bool) {
	t.Helper()
	all, err := z.f.st.ListPoolActivity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if a.Pool == "default" && !a.DemandAt.IsZero() {
			return a.SinceDemand, true
		}
	}
	return 0, false
}

func createAsleep(t *testing.T, rt *Router) store.Actor {
	t.Helper()
	a, _, err := rt.GetOrCreateActor(context.Background(), store.ActorSpec{ID: "a1", Namespace: "default", Name: "counter", Key: []string{"k"}, Pool: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if a.RunnerID != "" {
		t.Fatalf("actor placed on %q with no runner in the pool", a.RunnerID)
	}
	return a
}

// A request for a pool with no runner is held, records the pool's demand,
// and is answered by the runner that joins meanwhile.
func TestHeldRequestAnsweredWhenRunnerJoins(t *testing.T) {
	z := newZeroPool(t)
	rt := z.router(Config{WaitTimeout: 100 * time.Millisecond, ColdStartTimeout: 30 * time.Second})
	a := createAsleep(t, rt)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := rt.Action(context.Background(), hostapi.ActionRequest{ActorID: a.ID, Name: "increment"})
		done <- result{string(out), err}
	}()
	waitUntil(t, "the request to be held", func() bool { return rt.Held() == 1 })
	if _, ok := z.demand(t); !ok {
		t.Fatal("no demand recorded for the pool while a request is held")
	}
	// Past WaitTimeout, still held (the cold start bound applies).
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("held request answered before any runner joined: %q, %v", r.out, r.err)
	default:
	}
	z.join(t, "r1")
	select {
	case r := <-done:
		if r.err != nil || r.out != "r1" {
			t.Fatalf("held request: %q, %v; want an answer from r1", r.out, r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("held request not answered after a runner joined")
	}
	if n := rt.Held(); n != 0 {
		t.Fatalf("%d requests still counted as held", n)
	}
}

// No runner joins: the request gets actor/not_ready at the bound, without
// having run.
func TestHeldRequestGetsNotReadyAtBound(t *testing.T) {
	z := newZeroPool(t)
	rt := z.router(Config{WaitTimeout: 50 * time.Millisecond, ColdStartTimeout: 400 * time.Millisecond})
	a := createAsleep(t, rt)
	start := time.Now()
	_, err := rt.Action(context.Background(), hostapi.ActionRequest{ActorID: a.ID, Name: "increment"})
	if !errors.Is(err, errs.ErrNotReady) {
		t.Fatalf("err = %v, want actor/not_ready", err)
	}
	if waited := time.Since(start); waited < 400*time.Millisecond {
		t.Fatalf("answered after %s, before the 400ms cold start bound", waited)
	}
	if rt.Held() != 0 {
		t.Fatalf("%d requests still counted as held", rt.Held())
	}
}

// At most MaxHeld requests wait; the next one is refused at once.
func TestHeldRequestsAreBounded(t *testing.T) {
	z := newZeroPool(t)
	rt := z.router(Config{WaitTimeout: 50 * time.Millisecond, ColdStartTimeout: 30 * time.Second, MaxHeld: 1})
	a := createAsleep(t, rt)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := rt.Action(ctx, hostapi.ActionRequest{ActorID: a.ID, Name: "increment"})
		first <- err
	}()
	waitUntil(t, "the first request to be held", func() bool { return rt.Held() == 1 })
	_, err := rt.Action(context.Background(), hostapi.ActionRequest{ActorID: a.ID, Name: "increment"})
	if !errors.Is(err, errs.ErrNotReady) {
		t.Fatalf("second request: %v, want actor/not_ready (one held already)", err)
	}
	cancel() // the client goes away: its slot is freed
	if err := <-first; err == nil {
		t.Fatal("cancelled held request succeeded")
	}
	if rt.Held() != 0 {
		t.Fatalf("%d requests still counted as held", rt.Held())
	}
}

// Due work is not held: it records demand and answers at once.
func TestDueWakeIsNotHeld(t *testing.T) {
	z := newZeroPool(t)
	rt := z.router(Config{WaitTimeout: 5 * time.Second, ColdStartTimeout: 30 * time.Second})
	a := createAsleep(t, rt)
	start := time.Now()
	err := rt.routeHold(context.Background(), a.ID, false, func(c Caller, gen uint64) error {
		return c.Wake(context.Background(), hostapi.Target{ActorID: a.ID, Generation: gen})
	})
	if !errors.Is(err, errs.ErrNotReady) {
		t.Fatalf("wake: %v, want actor/not_ready", err)
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Fatalf("due wake waited %s: it must not be held", waited)
	}
	if _, ok := z.demand(t); !ok {
		t.Fatal("a due wake without a runner recorded no demand")
	}
}

// The names of a pool's runners are remembered when the pool loses its
// last runner, so requests by name are still recognised.
func TestNamesRememberedAtZero(t *testing.T) {
	z := newZeroPool(t)
	rt := z.router(Config{})
	z.join(t, "r1")
	v, err := rt.registry(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	rt.syncPoolNames(context.Background(), v)
	if err := z.f.st.RemoveRunner(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	rt2 := z.router(Config{}) // another gateway, started after the pool went to zero
	if !rt2.HasActor("counter") {
		t.Fatal("HasActor(counter) is false once the pool has no runner")
	}
	if rt2.HasActor("nothing") {
		t.Fatal("HasActor(nothing) is true")
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
