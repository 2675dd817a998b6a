package integration

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/metrics/scrape"
	"github.com/rivetkube/rivetkube/internal/testactors"
	"github.com/rivetkube/rivetkube/internal/testutil/proc"
)

// drainSample is one reading of the draining version's actor count.
type drainSample struct {
	at     time.Time
	actors int
}

// TestDrainHonoursRate drains version 1 to version 2 under a client loop
// at an asked rate and checks what the rate promises without timing the
// machine: the leader never moves faster than the rate plus its bucket's
// burst (plus the moves already running when a window opens), the
// leader's accounting of its bucket (drain metrics) shows the moves
// started at the asked rate whenever the drain was not held back, every
// actor ends on version 2, no client call fails and no acknowledged write
// is lost. The achieved rate is logged, not asserted.
func TestDrainHonoursRate(t *testing.T) {
	const (
		actors    = 400
		rateAsked = 150.0
		burst     = 30 // rateAsked × 0.2 s, the gateway's bucket depth
		inFlight  = 32 // the gateways' DrainWorkers
	)
	c := newCluster(t)
	workers := fmt.Sprint("RIVETKUBE_DRAIN_WORKERS=", inFlight)
	metricsAddrs := []string{proc.FreeAddr(t), proc.FreeAddr(t)}
	gws := []*node{c.startGateway(workers, "RIVETKUBE_METRICS_LISTEN="+metricsAddrs[0]),
		c.startGateway(workers, "RIVETKUBE_METRICS_LISTEN="+metricsAddrs[1])}
	c.startRunner(1)
	c.startRunner(1)
	c.waitRunners(2)
	if err := c.admin("PUT", "/admin/pools/default", map[string]any{"ready": []uint64{1}}, nil); err != nil {
		t.Fatal(err)
	}
	// Wake every actor on version 1 (one increment each, acknowledged).
	var log ackLog
	ctx := ctxFor(t, 5*time.Minute)
	var wg sync.WaitGroup
	var wakeErr atomic.Value
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.client(gws[w%len(gws)], client.EncodingBARE)
			for i := w; i < actors; i += 16 {
				key := fmt.Sprintf("load-%d", i)
				n, err := client.Call[int64](ctx, cl.GetOrCreate("counter", []string{key}), "increment", 1)
				if err != nil {
					wakeErr.Store(err)
					return
				}
				log.add(key, n)
			}
		}()
	}
	wg.Wait()
	if err := wakeErr.Load(); err != nil {
		t.Fatalf("waking the actors: %v", err)
	}
	var failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	loadWG := load(t, c, gws, 8, actors, &log, stop, &failed, &lastErr)

	c.startRunner(2)
	c.startRunner(2)
	c.waitRunners(4)
	before := c.status().Versions["1"].Actors
	if before < actors {
		t.Fatalf("%d actors on version 1 before the roll, want %d", before, actors)
	}
	start := time.Now()
	if err := c.admin("PUT", "/admin/pools/default", map[string]any{"ready": []uint64{2}, "draining": []uint64{1}, "drainRate": rateAsked}, nil); err != nil {
		t.Fatal(err)
	}
	var samples []drainSample
	waitFor(t, "version 1 drained", 3*time.Minute, func() bool {
		asked := time.Now()
		n := c.status().Versions["1"].Actors
		// The count is read somewhere during the call: take the midpoint.
		samples = append(samples, drainSample{at: asked.Add(time.Since(asked) / 2), actors: n})
		return n == 0
	})
	elapsed := time.Since(start)
	close(stop)
	loadWG.Wait()

	// The bucket lets no more than burst + rate × t moves start within t of
	// the ask, so the whole drain cannot be quicker than this.
	if least := time.Duration(float64(before-burst) / rateAsked * float64(time.Second)); elapsed < least {
		t.Errorf("%d actors drained in %v; at %v/s (burst %d) it takes at least %v", before, elapsed, rateAsked, burst, least)
	}
	// Over any window of a second or more, the count drops by no more than
	// the tokens of the window, the burst, the moves that were already
	// running, and a fifth of a second of tokens for the sampling error.
	for i := range samples {
		for j := i + 1; j < len(samples); j++ {
			dt := samples[j].at.Sub(samples[i].at)
			if dt < time.Second {
				continue
			}
			drop := samples[i].actors - samples[j].actors
			if limit := rateAsked*(dt.Seconds()+0.2) + burst + inFlight; float64(drop) > limit {
				t.Errorf("%d actors left version 1 in %v; the rate allows at most %.0f", drop, dt.Round(time.Millisecond), limit)
			}
		}
	}
	// The leader's own accounting of its token bucket (its clock, not the
	// test's): every move started took a token, no more than the rate
	// gives over the time the drain ran (the bucket starts empty; the
	// burst is slack), and no fewer than it gives over that time less the
	// time the drain was held back by something else (workers busy,
	// listing, moves in flight, the CPU), within 10%.
	// This holds however slow the machine is; only the share of stalled
	// time depends on it.
	var started, active, stalled float64
	for _, addr := range metricsAddrs {
		s, err := scrape.Fetch(ctx, "http://"+addr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := scrape.Sum(s, "rivetkube_gateway_drain_moves_started_total", "pool", "default")
		a, _ := scrape.Sum(s, "rivetkube_gateway_drain_active_seconds_total", "pool", "default")
		st, _ := scrape.Sum(s, "rivetkube_gateway_drain_stalled_seconds_total", "pool", "default")
		started, active, stalled = started+n, active+a, stalled+st
	}
	if started < float64(before) {
		t.Errorf("the leader started %v moves for %d actors", started, before)
	}
	if limit := rateAsked*active + burst; started > limit {
		t.Errorf("%v moves started in %.2f s of drain; the rate allows %.0f", started, active, limit)
	}
	if floor := 0.9*rateAsked*(active-stalled) - burst; started < floor {
		t.Errorf("%v moves started in %.2f s of drain (%.2f s held back); the rate asks for at least %.0f", started, active, stalled, floor)
	}
	t.Logf("leader's accounting: %v moves started in %.2f s of drain, %.2f s of it held back", started, active, stalled)
	st := c.status()
	if st.Versions["1"].Actors != 0 || st.Versions["2"].Actors < actors {
		t.Errorf("after the drain: %d actors on version 1, %d on version 2; want 0 and at least %d", st.Versions["1"].Actors, st.Versions["2"].Actors, actors)
	}
	if f := failed.Load(); f != 0 {
		t.Errorf("%d calls failed during the drain (last: %v)", f, lastErr.Load())
	}
	n := log.check(t, c.finalCount(t, gws[0]))
	t.Logf("%d actors moved in %v: %.0f/s achieved for %v/s asked; %d writes acknowledged, none failed",
		before, elapsed.Round(time.Millisecond), float64(before)/elapsed.Seconds(), rateAsked, n)
}

// TestProgressiveRampAndRollback ramps version 2 in (10% of new actors,
// 25% of the actors moved) under a client loop, rolls back (a ramp at 0%:
// every actor moves back to version 1), then promotes: no client call
// fails and no acknowledged write is lost at any point.
func TestProgressiveRampAndRollback(t *testing.T) {
	const actors = 200
	c := newCluster(t)
	gws := []*node{c.startGateway(), c.startGateway()}
	c.startRunner(1)
	c.startRunner(2)
	c.waitRunners(2)
	setRouting := func(body map[string]any) {
		t.Helper()
		body["drainRate"] = 200
		if err := c.admin("PUT", "/admin/pools/default", body, nil); err != nil {
			t.Fatal(err)
		}
	}
	setRouting(map[string]any{"ready": []uint64{1}})
	var log ackLog
	var failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	wg := load(t, c, gws, 8, actors, &log, stop, &failed, &lastErr)
	waitFor(t, "actors on version 1", 2*time.Minute, func() bool { return c.status().Versions["1"].Actors >= actors })

	ramp := func(newPct, movePct int) map[string]any {
		return map[string]any{"ready": []uint64{2, 1}, "ramp": map[string]any{"version": 2, "newPercent": newPct, "movePercent": movePct}}
	}
	setRouting(ramp(10, 25))
	waitFor(t, "a quarter of the actors on version 2", time.Minute, func() bool {
		st := c.status()
		return st.Versions["2"].Actors*4 >= st.Versions["1"].Actors+st.Versions["2"].Actors
	})
	// New actors are split: with 10% going to version 2, twenty of them all
	// landing there would mean the split is ignored.
	ctx := ctxFor(t, time.Minute)
	onV1 := 0
	for i := range 20 {
		w, err := client.Call[testactors.Where](ctx, c.client(gws[i%2], client.EncodingBARE).GetOrCreate("locate", []string{fmt.Sprint("ramp-", i)}), "where")
		if err != nil {
			t.Fatal(err)
		}
		if w.Version == 1 {
			onV1++
		}
	}
	if onV1 == 0 {
		t.Errorf("all 20 new actors went to version 2 at a 10%% ramp")
	}
	st := c.status()
	t.Logf("ramped: %d actors on version 1, %d on version 2; %d of 20 new actors on version 1", st.Versions["1"].Actors, st.Versions["2"].Actors, onV1)

	// Roll back: every actor of version 2 moves back.
	setRouting(ramp(0, 0))
	waitFor(t, "every actor back on version 1", time.Minute, func() bool { return c.status().Versions["2"].Actors == 0 })
	w, err := client.Call[testactors.Where](ctx, c.client(gws[0], client.EncodingBARE).GetOrCreate("locate", []string{"after-rollback"}), "where")
	if err != nil || w.Version != 1 {
		t.Fatalf("a new actor after the rollback went to version %d (%v); want 1", w.Version, err)
	}

	// Promote: version 2 takes everything.
	setRouting(map[string]any{"ready": []uint64{2}, "draining": []uint64{1}})
	waitFor(t, "version 1 drained", time.Minute, func() bool {
		st := c.status()
		return st.Versions["1"].Actors == 0 && st.Versions["2"].Actors > actors
	})
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d calls failed during the ramp, rollback and promotion (last: %v)", f, lastErr.Load())
	}
	n := log.check(t, c.finalCount(t, gws[0]))
	t.Logf("%d writes acknowledged through ramp, rollback and promotion, none failed", n)
}
