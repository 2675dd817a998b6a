package router

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// drainRunner is a runner that knows which actors are awake on it: Wake
// activates an actor the store places here at that generation, Stop puts
// an awake one to sleep (clearing its placement after a pause, as the
// runtime does after onSleep and the final commit) and does nothing for
// one that is not awake.
type drainRunner struct {
	fakeRunner
	pause time.Duration

	mu      sync.Mutex
	awake   map[string]uint64
	woken   map[string]int
	running int // Stops in progress
	maxRun  int
	lastAt  time.Time // when the last Stop began
}

func (d *drainRunner) Wake(ctx context.Context, t hostapi.Target) error {
	a, err := d.st.GetActor(ctx, t.ActorID)
	if err != nil {
		return err
	}
	if a.RunnerID != d.id || a.Generation != t.Generation {
		return errs.Stale()
	}
	d.mu.Lock()
	d.awake[t.ActorID] = t.Generation
	d.woken[t.ActorID]++
	d.mu.Unlock()
	return nil
}

func (d *drainRunner) Stop(ctx context.Context, t hostapi.Target) error {
	d.mu.Lock()
	gen, ok := d.awake[t.ActorID]
	if !ok || gen != t.Generation {
		d.mu.Unlock()
		return nil
	}
	d.running++
	d.maxRun = max(d.maxRun, d.running)
	d.lastAt = time.Now()
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running--
		delete(d.awake, t.ActorID)
		d.mu.Unlock()
	}()
	select {
	case <-time.After(d.pause):
	case <-ctx.Done():
		return errs.Stopping()
	}
	return d.st.Deactivate(ctx, t.ActorID, gen)
}

// movesCounted counts MovePlacements calls and the moves in them.
type movesCounted struct {
	store.Store
	calls, moves atomic.Int64
}

func (s *movesCounted) MovePlacements(ctx context.Context, moves []store.Move) ([]store.MoveResult, error) {
	s.calls.Add(1)
	s.moves.Add(int64(len(moves)))
	return s.Store.MovePlacements(ctx, moves)
}

func TestDrainConcurrentAtRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	st := &movesCounted{Store: bs}
	runners := map[string]*drainRunner{}
	for i, id := range []string{"old", "new1", "new2"} {
		ver := uint64(1)
		if i > 0 {
			ver = 2
		}
		if err := bs.UpsertRunner(ctx, store.Runner{ID: id, Pool: "default", Version: ver, Address: id, Names: []string{"counter"}}); err != nil {
			t.Fatal(err)
		}
		runners[id] = &drainRunner{fakeRunner: fakeRunner{id: id, st: bs, done: make(chan struct{})},
			pause: 30 * time.Millisecond, awake: map[string]uint64{}, woken: map[string]int{}}
	}
	// 240 actors on the old runner: 160 awake there, 80 placed but never
	// woken (created placed, no request yet).
	const n, awake = 240, 160
	old := runners["old"]
	for i := range n {
		a, err := bs.CreateActor(ctx, store.ActorSpec{ID: fmt.Sprintf("a%03d", i), Namespace: "default", Name: "counter", Key: []string{fmt.Sprint(i)}, Pool: "default"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := bs.Place(ctx, a.ID, "old", 0)
		if err != nil {
			t.Fatal(err)
		}
		if i < awake {
			if err := old.Wake(ctx, hostapi.Target{ActorID: a.ID, Generation: p.Generation}); err != nil {
				t.Fatal(err)
			}
		}
	}
	old.woken = map[string]int{}

	const rateAsked, workers = 400.0, 16
	rt := New(Config{
		Store: st,
		Dial: func(_ context.Context, r store.Runner) (Caller, error) {
			if dr, ok := runners[r.ID]; ok {
				return dr, nil
			}
			return nil, errors.New("no such runner")
		},
		Lease: time.Minute, WaitTimeout: 5 * time.Second, RunnerRefresh: 50 * time.Millisecond,
		DrainWorkers: workers, ID: "gw",
	})
	t.Cleanup(rt.Close)
	start := time.Now()
	if err := rt.SetPoolRouting(ctx, store.PoolConfig{Pool: "default", Ready: []uint64{2}, Draining: []uint64{1}, DrainRate: rateAsked}); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); rt.RunBackground(bctx) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.Now().Add(30 * time.Second)
	for {
		left, err := bs.ActorsOnRunner(ctx, "old", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d actors still on the draining runner after 30 s", len(left))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done

	// Every actor is on version 2, one generation later; only the awake
	// ones were woken there, each once.
	perRunner := map[string]int{}
	for i := range n {
		id := fmt.Sprintf("a%03d", i)
		a, err := bs.GetActor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Generation != 2 || (a.RunnerID != "new1" && a.RunnerID != "new2") {
			t.Fatalf("%s: generation %d on %q, want 2 on a version-2 runner", id, a.Generation, a.RunnerID)
		}
		perRunner[a.RunnerID]++
		woken := runners["new1"].woken[id] + runners["new2"].woken[id]
		if want := map[bool]int{true: 1, false: 0}[i < awake]; woken != want {
			t.Fatalf("%s (awake before: %v) woken %d times on version 2, want %d", id, i < awake, woken, want)
		}
	}
	if perRunner["new1"] == 0 || perRunner["new2"] == 0 {
		t.Fatalf("moves did not spread over the new runners: %v", perRunner)
	}
	// Never faster than the bucket allows: the last stop began no earlier
	// than the tokens for the awake actors beyond the burst take.
	burst := burstOf(rateAsked)
	minElapsed := time.Duration(float64(awake-burst) / rateAsked * float64(time.Second))
	if el := old.lastAt.Sub(start); el < minElapsed {
		t.Fatalf("the last stop began %v after the drain was asked; the rate allows no less than %v", el, minElapsed)
	}
	if old.maxRun < 2 || old.maxRun > workers {
		t.Fatalf("at most %d stops ran at once; want concurrent moves, at most %d", old.maxRun, workers)
	}
	t.Logf("%d moves in %d MovePlacements calls; up to %d stops at once; %v from the ask to the last stop (rate %v, burst %d)",
		st.moves.Load(), st.calls.Load(), old.maxRun, old.lastAt.Sub(start).Round(time.Millisecond), rateAsked, burst)
}
