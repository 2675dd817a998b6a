package integration

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/controllers/plan"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// The rollout strategies on processes without Kubernetes: a driver plays
// the operator's RunnerPool loop (observe the gateway's admin status,
// plan.Plan with the rollout strategy, apply the routing, remember the
// plan) against two gateways, reading the status from each in turn as a
// Service would spread the operator's calls: each gateway counts only its
// own share of the new version's calls, which is what the gate must cope
// with.

// strategyDriver is the operator's loop over the pool "default" with the
// versions 1 and 2 available.
type strategyDriver struct {
	t       *testing.T
	gws     []*node
	d       plan.Desired
	prev    []plan.VersionState
	latest  int64
	ro      *plan.RolloutState
	n       int
	changes []plan.RolloutResult
}

func newStrategyDriver(t *testing.T, gws []*node, spec plan.RolloutSpec) *strategyDriver {
	t0 := time.Now()
	return &strategyDriver{t: t, gws: gws, d: plan.Desired{
		Mode: plan.ModeOperator, MinReplicas: 1, MaxReplicas: 1, TargetActorsPerRunner: 100000,
		DrainRate: 200, DrainTimeout: time.Minute, DeleteDrainedAfter: time.Hour,
		ActivePoll: 200 * time.Millisecond, IdlePoll: time.Second,
		Versions: []plan.Version{{Name: "v1", Version: 1, Created: t0}, {Name: "v2", Version: 2, Created: t0.Add(time.Second)}},
		Rollout:  spec,
	}}
}

// pass runs one reconcile pass and returns the plan.
func (dr *strategyDriver) pass() plan.Result {
	dr.t.Helper()
	g := dr.gws[dr.n%len(dr.gws)]
	dr.n++
	ac := admin.New(g.endpoint(), adminToken, nil)
	ctx := ctxFor(dr.t, 10*time.Second)
	st, err := ac.PoolStatus(ctx, "default")
	if err != nil {
		dr.t.Fatalf("pool status from %s: %v", g.addr, err)
	}
	o := plan.Observed{
		Now: time.Now(), LatestVersion: dr.latest, Previous: dr.prev, Rollout: dr.ro, Gateway: gatewayView(st),
		Deployments: map[int64]plan.Deployment{1: {Replicas: 1, Available: 1, Pods: 1, Updated: true}, 2: {Replicas: 1, Available: 1, Pods: 1, Updated: true}},
	}
	r := plan.Plan(dr.d, o)
	if r.Routing != nil {
		rt := admin.Routing{DrainRate: r.Routing.DrainRate}
		for _, v := range r.Routing.Ready {
			rt.Ready = append(rt.Ready, uint64(v))
		}
		for _, v := range r.Routing.Draining {
			rt.Draining = append(rt.Draining, uint64(v))
		}
		if rp := r.Routing.Ramp; rp != nil {
			rt.Ramp = &admin.Ramp{Version: uint64(rp.Version), NewPercent: rp.NewPercent, MovePercent: rp.MovePercent}
		}
		if _, err := ac.SetRouting(ctx, "default", rt); err != nil {
			dr.t.Fatalf("set routing %+v: %v", rt, err)
		}
	}
	dr.prev = dr.prev[:0]
	for _, vp := range r.Versions {
		dr.prev = append(dr.prev, plan.VersionState{Name: vp.Name, Version: vp.Version, Phase: vp.Phase, Rejected: vp.Rejected,
			Replicas: vp.Replicas, DrainStartedAt: vp.DrainStartedAt, DrainedAt: vp.DrainedAt})
	}
	dr.latest = r.LatestVersion
	if r.Rollout != nil {
		s := r.Rollout.State
		dr.ro = &s
		if r.Rollout.Changed {
			dr.changes = append(dr.changes, *r.Rollout)
			dr.t.Logf("rollout: %s step %d, %d%%/%d%% %s %s", s.Phase, s.Step+1, r.Rollout.NewPercent, r.Rollout.MovePercent, s.Reason, s.Message)
		}
	}
	return r
}

// until runs passes until done holds for the last plan.
func (dr *strategyDriver) until(what string, d time.Duration, done func(plan.Result) bool) {
	dr.t.Helper()
	deadline := time.Now().Add(d)
	for {
		if done(dr.pass()) {
			return
		}
		if time.Now().After(deadline) {
			dr.t.Fatalf("timed out waiting for %s (rollout %+v)", what, dr.ro)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func gatewayView(st admin.PoolStatus) *plan.Gateway {
	g := &plan.Gateway{DrainRate: st.DrainRate, Actors: st.Actors, Versions: map[int64]plan.GatewayVersion{}}
	for _, v := range st.Ready {
		g.Ready = append(g.Ready, int64(v))
	}
	for _, v := range st.Draining {
		g.Draining = append(g.Draining, int64(v))
	}
	if st.Ramp != nil {
		g.Ramp = &plan.Ramp{Version: int64(st.Ramp.Version), NewPercent: st.Ramp.NewPercent, MovePercent: st.Ramp.MovePercent}
	}
	for k, v := range st.Versions {
		n, _ := strconv.ParseInt(k, 10, 64)
		g.Versions[n] = plan.GatewayVersion{Runners: v.Runners, LiveRunners: v.LiveRunners, Actors: v.Actors, Calls: v.Calls, FailedCalls: v.FailedCalls}
	}
	for _, rn := range st.Runners {
		g.Runners = append(g.Runners, plan.Runner{ID: rn.ID, Version: int64(rn.Version), Address: rn.Address, Alive: rn.Alive, Draining: rn.Draining, Actors: rn.Actors})
	}
	return g
}

// workLoad calls locate.work on keys through both gateways and counts the
// calls that failed with an internal error (a broken build) and those
// that failed otherwise (must not happen).
func workLoad(t *testing.T, c *cluster, gws []*node, keys int, stop <-chan struct{}, failedInternal, failedOther *atomic.Int64, lastErr *atomic.Value) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.client(gws[w%len(gws)], client.EncodingBARE)
			for i := w; ; i += 2 {
				select {
				case <-stop:
					return
				default:
				}
				_, err := client.Call[uint64](ctxFor(t, 30*time.Second), cl.GetOrCreate("locate", []string{fmt.Sprint("work-", i%keys)}), "work")
				var ae *client.ActorError
				switch {
				case err == nil:
				case errors.As(err, &ae) && ae.Code == "internal_error":
					failedInternal.Add(1)
				default:
					failedOther.Add(1)
					lastErr.Store(err.Error())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return &wg
}

func TestProgressiveStrategyOverTwoGateways(t *testing.T) {
	const actors = 120
	c := newCluster(t)
	gws := []*node{c.startGateway(), c.startGateway()}
	c.startRunner(1)
	c.startRunner(2)
	c.waitRunners(2)
	dr := newStrategyDriver(t, gws, plan.RolloutSpec{Strategy: plan.Progressive, Steps: []plan.RampStep{
		{NewPercent: 20, MovePercent: 0, Pause: time.Second},
		{NewPercent: 50, MovePercent: 50, Pause: time.Second},
	}, Gate: plan.Gate{MaxErrorPercent: 5, MinCalls: 20, MaxActivationFailures: -1}})
	// Version 1 alone first (the Deployment of version 2 is "not there":
	// the driver starts with version 1 only).
	dr.d.Versions = dr.d.Versions[:1]
	dr.until("version 1 current", 30*time.Second, func(r plan.Result) bool { return r.Current == 1 && r.Routing == nil })
	var log ackLog
	var failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	wg := load(t, c, gws, 6, actors, &log, stop, &failed, &lastErr)
	waitFor(t, "actors on version 1", 2*time.Minute, func() bool { return c.status().Versions["1"].Actors >= actors })

	dr.d.Versions = newStrategyDriver(t, gws, dr.d.Rollout).d.Versions
	dr.until("promoted and version 1 drained", 3*time.Minute, func(r plan.Result) bool {
		st := c.status()
		return r.Rollout != nil && r.Rollout.State.Phase == plan.Promoted && st.Versions["1"].Actors == 0 && slices.Equal(st.Ready, []uint64{2})
	})
	close(stop)
	wg.Wait()
	var shares [][2]int32
	for _, ch := range dr.changes {
		shares = append(shares, [2]int32{ch.NewPercent, ch.MovePercent})
	}
	if want := [][2]int32{{20, 0}, {50, 50}, {100, 100}}; !slices.Equal(shares, want) {
		t.Errorf("rollout transitions %v, want %v", shares, want)
	}
	if f := failed.Load(); f != 0 {
		t.Errorf("%d calls failed during the progressive roll (last: %v)", f, lastErr.Load())
	}
	n := log.check(t, c.finalCount(t, gws[0]))
	t.Logf("%d writes acknowledged through the progressive roll, none failed", n)
}

func TestStrategyGateRollsBackOverTwoGateways(t *testing.T) {
	const actors = 60
	c := newCluster(t)
	gws := []*node{c.startGateway(), c.startGateway()}
	c.startRunner(1)
	c.startRunner(2, "RIVETKUBE_TEST_BROKEN=1") // a build whose work action fails
	c.waitRunners(2)
	dr := newStrategyDriver(t, gws, plan.RolloutSpec{Strategy: plan.Progressive, Steps: []plan.RampStep{
		{NewPercent: 50, MovePercent: 50, Pause: time.Hour},
	}, Gate: plan.Gate{MaxErrorPercent: 5, MinCalls: 20, MaxActivationFailures: -1}})
	dr.d.Versions = dr.d.Versions[:1]
	dr.until("version 1 current", 30*time.Second, func(r plan.Result) bool { return r.Current == 1 && r.Routing == nil })
	var log ackLog
	var failed, workInternal, workOther atomic.Int64
	var lastErr, lastWorkErr atomic.Value
	stop := make(chan struct{})
	wg := load(t, c, gws, 4, actors, &log, stop, &failed, &lastErr)
	wwg := workLoad(t, c, gws, actors, stop, &workInternal, &workOther, &lastWorkErr)
	waitFor(t, "actors on version 1", 2*time.Minute, func() bool { return c.status().Versions["1"].Actors >= 2*actors })
	if n := workInternal.Load(); n != 0 {
		t.Fatalf("%d work calls failed on version 1", n)
	}

	dr.d.Versions = newStrategyDriver(t, gws, dr.d.Rollout).d.Versions
	dr.until("rolled back", 2*time.Minute, func(r plan.Result) bool {
		return r.Rollout != nil && r.Rollout.State.Phase == plan.RolledBack
	})
	if dr.ro.Reason != "ErrorRate" {
		t.Errorf("rollback reason %q (%s), want ErrorRate", dr.ro.Reason, dr.ro.Message)
	}
	dr.until("every actor back on version 1", 2*time.Minute, func(r plan.Result) bool {
		st := c.status()
		return st.Versions["2"].Actors == 0 && slices.Equal(st.Ready, []uint64{1}) && slices.Equal(st.Draining, []uint64{2})
	})
	// Every actor is on version 1 again: work calls succeed.
	before := workInternal.Load()
	time.Sleep(2 * time.Second)
	if n := workInternal.Load() - before; n != 0 {
		t.Errorf("%d work calls failed after every actor moved back", n)
	}
	close(stop)
	wg.Wait()
	wwg.Wait()
	if before == 0 {
		t.Errorf("no work call failed: the broken version was never exercised")
	}
	if f := failed.Load(); f != 0 {
		t.Errorf("%d counter calls failed during the ramp and rollback (last: %v)", f, lastErr.Load())
	}
	if f := workOther.Load(); f != 0 {
		t.Errorf("%d work calls failed other than with the broken build's internal error (last: %v)", f, lastWorkErr.Load())
	}
	n := log.check(t, c.finalCount(t, gws[0]))
	t.Logf("%d writes acknowledged through the ramp and rollback, none failed, none lost; %d work calls failed on the broken version", n, before)
}
