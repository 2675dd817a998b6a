package router

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/store/boltstore"
)

// fakeClock is a pacing clock whose time moves only when the drain sleeps
// on it: the work itself (stops, store writes) takes no time on it, so
// the count of moves against its time is the rate the drain asked for,
// whatever the speed of the machine running the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(max(d, 0))
	c.mu.Unlock()
	if d >= drainIdle {
		time.Sleep(time.Millisecond) // the dispatcher's idle pause: let the moves run
	}
	return nil
}

func TestPacerTokens(t *testing.T) {
	t.Parallel()
	cases := []struct {
		rate  float64
		moves int
	}{{1, 5}, {50, 200}, {150, 1000}, {2000, 20000}}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			c := &fakeClock{now: time.Unix(1e9, 0)}
			p := newPacer(c, tc.rate)
			for range tc.moves {
				if err := p.take(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			st := p.stats()
			// The bucket starts empty: every move waits its token.
			want := time.Duration(float64(tc.moves) / tc.rate * float64(time.Second))
			if d := st.Active - want; d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("%d moves at %v/s (burst %d) took %v of the clock, want %v", tc.moves, tc.rate, st.Burst, st.Active, want)
			}
			if st.Started != int64(tc.moves) || st.Paced != st.Active || st.Stalled != 0 {
				t.Fatalf("stats %+v: want %d started, all of the time paced", st, tc.moves)
			}
		})
	}
	t.Run("stalls keep at most a burst", func(t *testing.T) {
		c := &fakeClock{now: time.Unix(1e9, 0)}
		p := newPacer(c, 100) // burst 20
		for range 20 {
			_ = p.take(context.Background())
		}
		// Held back for 10 s: the tokens of that time beyond the burst are
		// gone, so the next 20 start at once and the 21st waits.
		_ = c.Sleep(context.Background(), 10*time.Second)
		before := c.Now()
		for range 21 {
			_ = p.take(context.Background())
		}
		if d := c.Now().Sub(before); d != 10*time.Millisecond {
			t.Fatalf("21 moves after a stall took %v of the clock, want 10ms (20 from the bucket, one token)", d)
		}
		st := p.stats()
		if st.Stalled != 10*time.Second || st.Started != 41 || st.Active != 10*time.Second+210*time.Millisecond {
			t.Fatalf("stats %+v: want 41 started in 10.21 s, 10 s of it stalled", st)
		}
	})
}

// TestDrainPacedByClock drains 300 actors at 100/s on a fake clock: the
// drain's accounting (the metrics the leader exports) shows every actor
// started once, no faster than the bucket allows, no slower except while
// held back (stalled), and the clock's paced time matches the rate.
func TestDrainPacedByClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bs, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	runners := map[string]*drainRunner{}
	for i, id := range []string{"old", "new"} {
		if err := bs.UpsertRunner(ctx, store.Runner{ID: id, Pool: "default", Version: uint64(i + 1), Address: id, Names: []string{"counter"}}); err != nil {
			t.Fatal(err)
		}
		runners[id] = &drainRunner{fakeRunner: fakeRunner{id: id, st: bs, done: make(chan struct{})},
			awake: map[string]uint64{}, woken: map[string]int{}}
	}
	const n, rateAsked = 300, 100.0
	for i := range n {
		a, err := bs.CreateActor(ctx, store.ActorSpec{ID: fmt.Sprintf("p%03d", i), Namespace: "default", Name: "counter", Key: []string{fmt.Sprint(i)}, Pool: "default"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := bs.Place(ctx, a.ID, "old", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := runners["old"].Wake(ctx, hostapi.Target{ActorID: a.ID, Generation: p.Generation}); err != nil {
			t.Fatal(err)
		}
	}
	m := metrics.NewRouter(prometheus.NewRegistry())
	rt := New(Config{
		Store: bs,
		Dial: func(_ context.Context, r store.Runner) (Caller, error) {
			if dr, ok := runners[r.ID]; ok {
				return dr, nil
			}
			return nil, errors.New("no such runner")
		},
		Lease: time.Minute, WaitTimeout: 5 * time.Second, RunnerRefresh: 50 * time.Millisecond,
		DrainWorkers: 8, ID: "gw", Metrics: m,
	})
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	rt.clock = clk
	t.Cleanup(rt.Close)
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

	started, active, stalled := m.DrainPacingForTest("default")
	burst := float64(burstOf(rateAsked))
	if started != n {
		t.Fatalf("%v moves started for %d actors", started, n)
	}
	// Never faster than asked: the bucket starts empty, so the moves fit
	// the clock's time.
	if limit := rateAsked * active; started > limit+1e-6 {
		t.Errorf("%v moves started in %.3f s of the clock; the rate allows %.1f", started, active, limit)
	}
	// Never slower than asked while not held back.
	if floor := rateAsked*(active-stalled) - burst; started < floor-1e-9 {
		t.Errorf("%v moves started in %.3f s (%.3f s stalled); the rate asks for at least %.1f", started, active, stalled, floor)
	}
	// The pacing itself took at most n / rate of the clock (less the
	// tokens saved up while moves were in flight), and at least the time
	// of the moves beyond one burst.
	paced := active - stalled
	if hi, lo := n/rateAsked, (n-burst)/rateAsked; paced > hi+1e-6 || paced < lo-1/rateAsked {
		t.Errorf("%.4f s of the clock paced for %d moves at %v/s (burst %v), want %.4f to %.4f s", paced, n, rateAsked, burst, lo, hi)
	}
	t.Logf("%v moves; clock: %.3f s active, %.3f s stalled (moves in flight), rate %v/s, burst %v", started, active, stalled, rateAsked, burst)
}
