package integration

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/testactors"
)

// ackLog records, per actor, every value an increment acknowledged.
type ackLog struct {
	mu   sync.Mutex
	vals map[string][]int64
}

func (l *ackLog) add(key string, v int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.vals == nil {
		l.vals = map[string][]int64{}
	}
	l.vals[key] = append(l.vals[key], v)
}

// check asserts every acknowledged count is unique per actor (two live
// instances would hand out the same count twice) and that the final count
// covers the highest acknowledged one (nothing acknowledged was lost).
func (l *ackLog) check(t *testing.T, final func(key string) int64) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for key, vals := range l.vals {
		seen := map[int64]bool{}
		var hi int64
		for _, v := range vals {
			if seen[v] {
				t.Errorf("actor %s: count %d acknowledged twice: two activations served it", key, v)
			}
			seen[v] = true
			hi = max(hi, v)
		}
		total += len(vals)
		if got := final(key); got < hi {
			t.Errorf("actor %s: final count %d, but %d was acknowledged", key, got, hi)
		}
	}
	return total
}

func TestRoutingAcrossGatewaysAndRunners(t *testing.T) {
	c := newCluster(t)
	g0, g1 := c.startGateway(), c.startGateway()
	for i := 0; i < 3; i++ {
		c.startRunner(1)
	}
	c.waitRunners(3)
	ctx := ctxFor(t, 2*time.Minute)
	a, b := c.client(g0, client.EncodingBARE), c.client(g1, client.EncodingJSON)
	const actors = 30
	for i := 0; i < actors; i++ {
		key := []string{fmt.Sprintf("route-%d", i)}
		for j := 1; j <= 3; j++ {
			cl := a
			if j%2 == 0 {
				cl = b
			}
			n, err := client.Call[int64](ctx, cl.GetOrCreate("counter", key), "increment", 1)
			if err != nil || n != int64(j) {
				t.Fatalf("actor %d call %d: %d, %v", i, j, n, err)
			}
		}
		n, err := client.Call[int64](ctx, b.Get("counter", key), "getCount")
		if err != nil || n != 3 {
			t.Fatalf("actor %d via the other gateway: %d, %v", i, n, err)
		}
	}
	st := c.status()
	busy := 0
	for _, r := range st.Runners {
		if r.Actors > 0 {
			busy++
		}
	}
	if st.Actors != actors || busy < 2 {
		t.Fatalf("placement: %d actors placed over %d busy runners; want %d over at least 2: %+v", st.Actors, busy, actors, st.Runners)
	}
}

func TestStampedeOnOneNewKeyActivatesOnce(t *testing.T) {
	c := newCluster(t)
	gws := []*node{c.startGateway(), c.startGateway()}
	for i := 0; i < 3; i++ {
		c.startRunner(1)
	}
	c.waitRunners(3)
	ctx := ctxFor(t, time.Minute)
	const callers = 48
	var log ackLog
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cl := c.client(gws[i%2], client.EncodingBARE)
			n, err := client.Call[int64](ctx, cl.GetOrCreate("counter", []string{"stampede"}), "increment", 1)
			if err != nil {
				errs <- err
				return
			}
			log.add("stampede", n)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("stampede call failed: %v", err)
	}
	n := log.check(t, func(string) int64 {
		v, err := client.Call[int64](ctx, c.client(gws[0], client.EncodingJSON).Get("counter", []string{"stampede"}), "getCount")
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	if n != callers {
		t.Fatalf("%d of %d calls acknowledged", n, callers)
	}
	var where []testactors.Where
	if st := c.status(); st.Actors != 1 {
		t.Fatalf("%d actors placed; want exactly 1: %+v %v", st.Actors, st.Runners, where)
	}
}

// load runs increments from workers over keys through the gateways until
// stop is closed. Failed calls are counted, never acknowledged.
func load(t *testing.T, c *cluster, gws []*node, workers, keys int, log *ackLog, stop <-chan struct{}, failed *atomic.Int64, lastErr *atomic.Value) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cl := c.client(gws[w%len(gws)], client.EncodingBARE)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("load-%d", (w*7+i)%keys)
				ctx := ctxFor(t, 30*time.Second)
				n, err := client.Call[int64](ctx, cl.GetOrCreate("counter", []string{key}), "increment", 1)
				if err != nil {
					failed.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				log.add(key, n)
			}
		}(w)
	}
	return &wg
}

func (c *cluster) finalCount(t *testing.T, g *node) func(string) int64 {
	return func(key string) int64 {
		v, err := client.Call[int64](ctxFor(t, 30*time.Second), c.client(g, client.EncodingJSON).Get("counter", []string{key}), "getCount")
		if err != nil {
			t.Fatalf("final count of %s: %v", key, err)
		}
		return v
	}
}

func TestRunnerKill9LosesNothingAcknowledged(t *testing.T) {
	c := newCluster(t)
	gws := []*node{c.startGateway(), c.startGateway()}
	for i := 0; i < 3; i++ {
		c.startRunner(1)
	}
	c.waitRunners(3)
	var log ackLog
	var failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	const workers = 12
	wg := load(t, c, gws, workers, 24, &log, stop, &failed, &lastErr)
	waitFor(t, "a first wave of writes", 60*time.Second, func() bool { return len(log.snapshot()) >= 20 })

	// Kill the busiest runner.
	st := c.status()
	victim, most := -1, -1
	for i, r := range c.runners {
		for _, s := range st.Runners {
			if s.Address == r.addr && s.Actors > most {
				victim, most = i, s.Actors
			}
		}
	}
	before := log.count()
	c.runners[victim].Kill()
	t.Logf("killed %s hosting %d actors after %d acknowledged writes", c.runners[victim].Name, most, before)
	// Keep the load on through the lease and well past it.
	waitFor(t, "writes after the failover", 60*time.Second, func() bool { return log.count() >= before+500 })
	close(stop)
	wg.Wait()
	// Only calls in flight at the kill may fail (one per worker at most);
	// everything sent afterwards waits for the failover instead.
	if f := failed.Load(); f > workers {
		t.Errorf("%d calls failed (last: %v); at most %d were in flight at the kill", f, lastErr.Load(), workers)
	}
	n := log.check(t, c.finalCount(t, gws[1]))
	t.Logf("%d writes acknowledged, %d failed", n, failed.Load())
}

func (l *ackLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.vals {
		n += len(v)
	}
	return n
}

func (l *ackLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.vals {
		out[k] = len(v)
	}
	return out
}

func TestGatewayKillOthersKeepServing(t *testing.T) {
	c := newCluster(t)
	g0, g1 := c.startGateway(), c.startGateway()
	c.startRunner(1)
	c.startRunner(1)
	c.waitRunners(2)
	ctx := ctxFor(t, time.Minute)
	for i := 0; i < 10; i++ {
		if _, err := client.Call[int64](ctx, c.client(g0, client.EncodingBARE).GetOrCreate("counter", []string{fmt.Sprint("gk-", i)}), "increment", 5); err != nil {
			t.Fatal(err)
		}
	}
	g0.Kill()
	for i := 0; i < 10; i++ {
		n, err := client.Call[int64](ctx, c.client(g1, client.EncodingCBOR).GetOrCreate("counter", []string{fmt.Sprint("gk-", i)}), "increment", 1)
		if err != nil || n != 6 {
			t.Fatalf("actor %d after gateway kill: %d, %v", i, n, err)
		}
	}
}

func TestPostgresRestartRecovers(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	c.startRunner(1)
	c.waitRunners(1)
	ctx := ctxFor(t, 2*time.Minute)
	cl := c.client(g, client.EncodingBARE)
	h := cl.GetOrCreate("counter", []string{"pg-restart"})
	if _, err := client.Call[int64](ctx, h, "increment", 1); err != nil {
		t.Fatal(err)
	}
	c.pg.Restart(t)
	// The processes were not restarted: service comes back by itself.
	var n int64
	waitFor(t, "service after the PostgreSQL restart", 60*time.Second, func() bool {
		var err error
		n, err = client.Call[int64](ctx, h, "increment", 1)
		return err == nil
	})
	if n < 2 {
		t.Fatalf("count %d after restart", n)
	}
}

func TestVersionDrainWithoutFailedCalls(t *testing.T) {
	c := newCluster(t)
	gws := []*node{c.startGateway(), c.startGateway()}
	c.startRunner(1)
	c.startRunner(1)
	c.waitRunners(2)
	if err := c.admin("PUT", "/admin/pools/default", map[string]any{"ready": []uint64{1}, "drainRate": 20}, nil); err != nil {
		t.Fatal(err)
	}
	var log ackLog
	var failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	wg := load(t, c, gws, 8, 30, &log, stop, &failed, &lastErr)
	waitFor(t, "actors on version 1", 60*time.Second, func() bool { return c.status().Versions["1"].Actors >= 20 })

	c.startRunner(2)
	c.waitRunners(3)
	if err := c.admin("PUT", "/admin/pools/default", map[string]any{"ready": []uint64{2}, "draining": []uint64{1}, "drainRate": 20}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "version 1 drained", 90*time.Second, func() bool {
		st := c.status()
		return st.Versions["1"].Actors == 0 && st.Versions["2"].Actors > 0
	})
	// New actors land on version 2.
	w, err := client.Call[testactors.Where](ctxFor(t, 30*time.Second), c.client(gws[0], client.EncodingBARE).GetOrCreate("locate", []string{"after-drain"}), "where")
	if err != nil || w.Version != 2 {
		t.Fatalf("new actor placed on version %d (%v); want 2", w.Version, err)
	}
	close(stop)
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d calls failed during the drain (last: %v)", f, lastErr.Load())
	}
	log.check(t, c.finalCount(t, gws[0]))
	// The drained runners can now stop; they leave the registry cleanly.
	for _, r := range c.runners[:2] {
		if !r.Stop(30 * time.Second) {
			t.Errorf("%s did not exit on SIGTERM", r.Name)
		}
	}
}

func TestPausedRunnerIsFenced(t *testing.T) {
	c := newCluster(t)
	g := c.startGateway()
	r0 := c.startRunner(1)
	c.waitRunners(1)
	ctx := ctxFor(t, 2*time.Minute)
	cl := c.client(g, client.EncodingBARE)
	h := cl.GetOrCreate("counter", []string{"fence"})
	if _, err := client.Call[int64](ctx, h, "increment", 1); err != nil {
		t.Fatal(err)
	}
	// Freeze the runner past its lease; the actor must move to another runner.
	r0.Pause()
	c.startRunner(1)
	acked := int64(1)
	// The first call may reach the frozen runner before its lease runs out:
	// it then fails with actor/dropped_reply (it may or may not have run, as
	// far as the gateway knows). Every later call must succeed.
	for i := 0; i < 2; i++ {
		_, err := client.Call[int64](ctx, h, "increment", 1)
		if err == nil {
			acked++
			break
		}
		var ae *client.ActorError
		if i > 0 || !errors.As(err, &ae) || ae.Code != "dropped_reply" {
			t.Fatalf("call after failover: %v", err)
		}
	}
	// The frozen runner wakes up still holding the old instance: it must not
	// serve or overwrite anything (its writes fail the generation fence).
	r0.Resume()
	for i := 0; i < 20; i++ {
		if _, err := client.Call[int64](ctx, h, "increment", 1); err != nil {
			t.Fatal(err)
		}
		acked++
	}
	n, err := client.Call[int64](ctx, h, "getCount")
	if err != nil || n != acked {
		t.Fatalf("count %d (%v); want exactly the %d acknowledged increments", n, err, acked)
	}
}
