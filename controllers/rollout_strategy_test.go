package controller

// Rollout strategies through the operator: a real gateway and real runner
// processes on PostgreSQL, the operator's manager against envtest, and a
// client loop through the gateway during the whole rollout.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	rivetclient "github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// load is a client loop: counters incremented round-robin (every
// acknowledged count is remembered) and, with work, an action on locate
// actors that fails on a broken runner.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	acked       map[string]int64
	calls       int
	failed      []error // counter calls that failed: must stay empty
	workCalls   int
	workFailed  int
	workOtherEr []error // work calls that failed other than with internal_error
}

func (e *env) startLoad(pool string, counters, workers int, work bool) *load {
	e.t.Helper()
	cl, err := rivetclient.New(rivetclient.Config{Endpoint: e.gateway, Encoding: rivetclient.EncodingJSON, PoolName: pool})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	l := &load{cancel: cancel, acked: map[string]int64{}}
	for g := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := g; ctx.Err() == nil; i += workers {
				key := fmt.Sprint("load-", i%counters)
				cctx, ccancel := context.WithTimeout(ctx, 45*time.Second)
				n, err := rivetclient.Call[int64](cctx, cl.GetOrCreate("counter", []string{key}), "increment", 1)
				ccancel()
				if ctx.Err() != nil {
					return
				}
				l.mu.Lock()
				l.calls++
				if err != nil {
					l.failed = append(l.failed, fmt.Errorf("increment %s: %w", key, err))
				} else {
					l.acked[key] = max(l.acked[key], n)
				}
				l.mu.Unlock()
				if work {
					wkey := fmt.Sprint("work-", i%counters)
					cctx, ccancel := context.WithTimeout(ctx, 45*time.Second)
					_, err := rivetclient.Call[uint64](cctx, cl.GetOrCreate("locate", []string{wkey}), "work")
					ccancel()
					if ctx.Err() != nil {
						return
					}
					var pe *rivetclient.ActorError
					l.mu.Lock()
					l.workCalls++
					switch {
					case err == nil:
					case errors.As(err, &pe) && pe.Code == "internal_error":
						l.workFailed++
					default:
						l.workOtherEr = append(l.workOtherEr, err)
					}
					l.mu.Unlock()
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	e.t.Cleanup(l.stop)
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) snapshot() (calls int, failed []error, workCalls, workFailed int, workOther []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls, slices.Clone(l.failed), l.workCalls, l.workFailed, slices.Clone(l.workOtherEr)
}

// checkNothingLost stops the loop and checks that every counter holds at
// least the highest count it acknowledged, and that no counter call failed.
func (e *env) checkNothingLost(pool string, l *load) {
	e.t.Helper()
	l.stop()
	calls, failed, _, _, _ := l.snapshot()
	if len(failed) > 0 {
		e.t.Errorf("%d of %d counter calls failed during the rollout; first: %v", len(failed), calls, failed[0])
	}
	cl, err := rivetclient.New(rivetclient.Config{Endpoint: e.gateway, Encoding: rivetclient.EncodingJSON, PoolName: pool})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, want := range l.acked {
		got, err := rivetclient.Call[int64](ctx, cl.GetOrCreate("counter", []string{key}), "getCount")
		if err != nil {
			e.t.Fatalf("getCount %s: %v", key, err)
		}
		if got < want {
			e.t.Errorf("counter %s = %d, but %d was acknowledged: a write was lost", key, got, want)
		}
	}
	e.t.Logf("client loop: %d counter calls, 0 failed, %d counters checked", calls, len(l.acked))
}

func (e *env) rollout(pool string) rivetv1.RolloutStatus {
	p := e.pool(pool)
	if p.Status.Rollout == nil {
		return rivetv1.RolloutStatus{}
	}
	return *p.Status.Rollout
}

func rampOf(st admin.PoolStatus) string {
	if st.Ramp == nil {
		return fmt.Sprintf("ready %v draining %v no ramp", st.Ready, st.Draining)
	}
	return fmt.Sprintf("ready %v draining %v ramp v%d %d/%d", st.Ready, st.Draining, st.Ramp.Version, st.Ramp.NewPercent, st.Ramp.MovePercent)
}

// awaitRamp waits until the gateway applies the ramp new/move to version 2
// and the pool's status shows the step.
func (e *env) awaitRamp(pool string, step, newShare, move int32) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("step %d (%d%%/%d%%)", step, newShare, move), 30*time.Second, func() (bool, string) {
		st := e.poolStatus(pool)
		ro := e.rollout(pool)
		ok := st.Ramp != nil && st.Ramp.Version == 2 && st.Ramp.NewPercent == newShare && st.Ramp.MovePercent == move &&
			slices.Equal(st.Ready, []uint64{2, 1}) &&
			ro.Phase == rivetv1.RolloutRamping && ro.Step == step && ro.NewActorShare == newShare && ro.MoveShare == move
		return ok, fmt.Sprintf("gateway %s; status %+v", rampOf(st), ro)
	})
}

// awaitEventReason waits for an event with reason about the named object.
func (e *env) awaitEventReason(regarding, reason, typ string) eventsv1.Event {
	e.t.Helper()
	var found eventsv1.Event
	e.waitFor("event "+reason, 20*time.Second, func() (bool, string) {
		var evs eventsv1.EventList
		if err := k8sClient.List(e.ctx, &evs, client.InNamespace(e.ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.Regarding.Name == regarding && ev.Reason == reason && ev.Type == typ {
				found = ev
				return true, ""
			}
			seen = append(seen, ev.Regarding.Name+"/"+ev.Reason)
		}
		return false, strings.Join(seen, ", ")
	})
	return found
}

func TestProgressiveRolloutSteps(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.Drain.ActorsPerSecond = 100
	p.Spec.Rollout = rivetv1.RolloutSpec{Strategy: rivetv1.RolloutProgressive, Steps: []rivetv1.RolloutStep{
		{NewActorShare: 20, MoveShare: 0, Pause: &metav1.Duration{Duration: 2 * time.Second}},
		{NewActorShare: 50, MoveShare: 50, Pause: &metav1.Duration{Duration: 2 * time.Second}},
	}, Gate: rivetv1.RolloutGate{MaxErrorPercent: ptr.To[int32](5), MinCalls: 20}}
	e.startV1(p)
	l := e.startLoad("app", 40, 4, false)
	e.waitFor("actors on version 1", 30*time.Second, func() (bool, string) {
		n := e.poolStatus("app").Version(1).Actors
		return n >= 40, fmt.Sprint(n)
	})

	e.create(version("app-2", "app", 2))
	e.waitFor("deployment app-v2", 20*time.Second, func() (bool, string) { return e.deployment("app-v2") != nil, "absent" })
	e.startRunner("app", 2)
	e.makeAvailable("app-v2")

	// Step 1: 20% of new actors on version 2, nothing moved; version 1
	// stays current and version 2 ramps.
	e.awaitRamp("app", 1, 20, 0)
	e.waitFor("version 1 current, version 2 ramping", 20*time.Second, func() (bool, string) {
		ph1, ph2 := e.phase("app-1"), e.phase("app-2")
		ro := e.rollout("app")
		return ph1 == rivetv1.PhaseCurrent && ph2 == rivetv1.PhaseRamping || ro.Step > 1, fmt.Sprintf("version 1 %s, version 2 %s", ph1, ph2)
	})
	pl := e.pool("app")
	if pl.Status.CurrentVersion != 1 {
		t.Errorf("current version during the ramp = %d, want 1", pl.Status.CurrentVersion)
	}
	if c := meta.FindStatusCondition(pl.Status.Conditions, rivetv1.ConditionProgressing); c == nil || c.Status != metav1.ConditionTrue || c.Reason != "Ramping" {
		t.Errorf("Progressing during the ramp: %s", condString(pl.Status.Conditions))
	}
	e.awaitEventReason("app", "RolloutStep", corev1.EventTypeNormal)
	step1 := e.rollout("app").StepStartedAt

	// Step 2 after the pause: half the actors move.
	e.awaitRamp("app", 2, 50, 50)
	if s2 := e.rollout("app").StepStartedAt; s2 == nil || step1 == nil || s2.Sub(step1.Time) < 2*time.Second-time.Second {
		// Timestamps are kept to the second.
		t.Errorf("step 2 began at %v, step 1 at %v: the pause of 2s was not held", s2, step1)
	}
	e.waitFor("half the actors on version 2", 30*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		v1, v2 := st.Version(1).Actors, st.Version(2).Actors
		ro := e.rollout("app")
		return v2 > 0 && v2*100 >= 50*(v1+v2) || ro.Phase == rivetv1.RolloutPromoted, fmt.Sprintf("v1 %d v2 %d, status %d/%d", v1, v2, ro.FromActors, ro.ToActors)
	})

	// Promotion: every new actor on version 2, version 1 drains.
	e.waitFor("promoted", 30*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		ro := e.rollout("app")
		return ro.Phase == rivetv1.RolloutPromoted && slices.Equal(st.Ready, []uint64{2}) && slices.Equal(st.Draining, []uint64{1}) && st.Ramp == nil,
			fmt.Sprintf("gateway %s; status %+v", rampOf(st), ro)
	})
	e.awaitEventReason("app", "RolloutPromoted", corev1.EventTypeNormal)
	e.waitFor("version 1 drained", 60*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return e.phase("app-1") == rivetv1.PhaseDrained && e.phase("app-2") == rivetv1.PhaseCurrent && st.Version(1).Actors == 0,
			fmt.Sprintf("v1 %s (%d actors), v2 %s", e.phase("app-1"), st.Version(1).Actors, e.phase("app-2"))
	})
	e.checkNothingLost("app", l)
	if ro := e.rollout("app"); ro.Step != 3 || ro.Steps != 2 || ro.NewActorShare != 100 || ro.FromVersion != 1 || ro.ToVersion != 2 || ro.LastTransitionTime == nil {
		t.Errorf("status after promotion = %+v", ro)
	}
	e.assertIdempotent()
}

func TestRolloutGateRollsBack(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.Drain.ActorsPerSecond = 100
	p.Spec.Rollout = rivetv1.RolloutSpec{Strategy: rivetv1.RolloutProgressive, Steps: []rivetv1.RolloutStep{
		{NewActorShare: 50, MoveShare: 50, Pause: &metav1.Duration{Duration: time.Hour}},
	}, Gate: rivetv1.RolloutGate{MaxErrorPercent: ptr.To[int32](5), MinCalls: 20}}
	e.startV1(p)
	l := e.startLoad("app", 30, 4, true)
	e.waitFor("actors on version 1", 30*time.Second, func() (bool, string) {
		n := e.poolStatus("app").Version(1).Actors
		return n >= 60, fmt.Sprint(n)
	})
	if _, _, wc, wf, _ := l.snapshot(); wc == 0 || wf != 0 {
		t.Fatalf("before the rollout: %d work calls, %d failed; want some, none failed", wc, wf)
	}

	// Version 2 is a broken build: its work action fails.
	e.create(version("app-2", "app", 2))
	e.waitFor("deployment app-v2", 20*time.Second, func() (bool, string) { return e.deployment("app-v2") != nil, "absent" })
	e.startRunner("app", 2, "RIVETKUBE_TEST_BROKEN=1")
	e.makeAvailable("app-v2")

	e.waitFor("rolled back", 60*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return e.rollout("app").Phase == rivetv1.RolloutRolledBack, fmt.Sprintf("gateway %s v2 calls %d failed %d; status %+v",
			rampOf(st), st.Version(2).Calls, st.Version(2).FailedCalls, e.rollout("app"))
	})
	pl := e.pool("app")
	c := meta.FindStatusCondition(pl.Status.Conditions, rivetv1.ConditionRolledBack)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != "ErrorRate" || !strings.Contains(c.Message, "actions failed") {
		t.Errorf("RolledBack condition: %s", condString(pl.Status.Conditions))
	}
	if ro := e.rollout("app"); ro.Reason != "ErrorRate" || ro.FailedCalls == 0 || ro.ToVersion != 2 || ro.FromVersion != 1 {
		t.Errorf("rollout status after the rollback = %+v", ro)
	}
	ev := e.awaitEventReason("app", "RolledBack", corev1.EventTypeWarning)
	if !strings.Contains(ev.Note, "ErrorRate") {
		t.Errorf("RolledBack event note = %q", ev.Note)
	}

	// New actors go to version 1 again and the moved ones move back.
	e.waitFor("every actor back on version 1", 60*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return slices.Equal(st.Ready, []uint64{1}) && slices.Equal(st.Draining, []uint64{2}) && st.Ramp == nil && st.Version(2).Actors == 0,
			fmt.Sprintf("gateway %s, v1 %d v2 %d actors", rampOf(st), st.Version(1).Actors, st.Version(2).Actors)
	})
	e.waitFor("version 2 drained, version 1 current", 30*time.Second, func() (bool, string) {
		d := e.deployment("app-v2")
		return e.phase("app-2") == rivetv1.PhaseDrained && e.phase("app-1") == rivetv1.PhaseCurrent && d != nil && *d.Spec.Replicas == 0 &&
				e.pool("app").Status.CurrentVersion == 1,
			fmt.Sprintf("v1 %s v2 %s", e.phase("app-1"), e.phase("app-2"))
	})
	// Work calls succeed again once every actor is back.
	_, _, _, failedAtRollback, _ := l.snapshot()
	time.Sleep(time.Second)
	_, _, wc0, wf0, _ := l.snapshot()
	e.waitFor("work calls succeeding", 20*time.Second, func() (bool, string) {
		_, _, wc, wf, _ := l.snapshot()
		return wc >= wc0+20 && wf == wf0, fmt.Sprintf("%d calls, %d failed since", wc-wc0, wf-wf0)
	})
	_, _, _, _, other := l.snapshot()
	if len(other) > 0 {
		t.Errorf("work calls failed with other than internal_error: %v", other[0])
	}
	if failedAtRollback == 0 {
		t.Errorf("no work call failed: the broken version was never exercised")
	}
	e.checkNothingLost("app", l)

	// The rolled-back version is not taken up again.
	if st := e.poolStatus("app"); !slices.Equal(st.Ready, []uint64{1}) {
		t.Errorf("routing after the rollback settled: %s", rampOf(st))
	}
	e.assertIdempotent()
}

func TestManualRolloutPromotion(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.Drain.ActorsPerSecond = 100
	p.Spec.Rollout = rivetv1.RolloutSpec{Strategy: rivetv1.RolloutManual, Steps: []rivetv1.RolloutStep{
		{NewActorShare: 20, MoveShare: 0},
		{NewActorShare: 50, MoveShare: 50},
	}}
	e.startV1(p)
	e.actors("app", "man-", 10)
	e.create(version("app-2", "app", 2))
	e.waitFor("deployment app-v2", 20*time.Second, func() (bool, string) { return e.deployment("app-v2") != nil, "absent" })
	e.startRunner("app", 2)
	e.makeAvailable("app-v2")

	e.awaitRamp("app", 1, 20, 0)
	// Held at step 1 (no pause applies to Manual; the user decides).
	time.Sleep(3 * time.Second)
	if ro := e.rollout("app"); ro.Step != 1 || ro.Phase != rivetv1.RolloutRamping || !strings.Contains(ro.Message, "manual") {
		t.Fatalf("a manual rollout went on by itself: %+v", ro)
	}

	promote := func(v int64, step int32) {
		t.Helper()
		pl := e.pool("app")
		patch := client.MergeFrom(pl.DeepCopy())
		pl.Spec.Rollout.Promote = &rivetv1.RolloutPromotion{Version: v, Step: step}
		if err := k8sClient.Patch(e.ctx, pl, patch); err != nil {
			t.Fatal(err)
		}
	}
	// A promotion for another version does nothing.
	promote(7, 3)
	time.Sleep(2 * time.Second)
	if ro := e.rollout("app"); ro.Step != 1 {
		t.Fatalf("a promotion of version 7 moved the rollout of version 2: %+v", ro)
	}
	promote(2, 2)
	e.awaitRamp("app", 2, 50, 50)
	e.waitFor("half the actors moved", 30*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		v1, v2 := st.Version(1).Actors, st.Version(2).Actors
		return v2 >= 5, fmt.Sprintf("v1 %d v2 %d", v1, v2)
	})
	time.Sleep(2 * time.Second)
	if ro := e.rollout("app"); ro.Step != 2 || ro.Phase != rivetv1.RolloutRamping {
		t.Fatalf("the manual rollout left step 2 by itself: %+v", ro)
	}
	promote(2, 3)
	e.waitFor("promoted", 30*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return e.rollout("app").Phase == rivetv1.RolloutPromoted && slices.Equal(st.Ready, []uint64{2}) && slices.Equal(st.Draining, []uint64{1}),
			rampOf(st)
	})
	e.waitFor("version 1 drained", 60*time.Second, func() (bool, string) {
		return e.phase("app-1") == rivetv1.PhaseDrained && e.phase("app-2") == rivetv1.PhaseCurrent, fmt.Sprintf("v1 %s v2 %s", e.phase("app-1"), e.phase("app-2"))
	})
}

func TestRolloutSpecValidation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		ro   rivetv1.RolloutSpec
		err  string
	}{
		{"progressive without steps", rivetv1.RolloutSpec{Strategy: rivetv1.RolloutProgressive}, "need at least one step"},
		{"decreasing shares", rivetv1.RolloutSpec{Strategy: rivetv1.RolloutManual, Steps: []rivetv1.RolloutStep{{NewActorShare: 50}, {NewActorShare: 10}}}, "must not decrease"},
		{"share over 100", rivetv1.RolloutSpec{Strategy: rivetv1.RolloutProgressive, Steps: []rivetv1.RolloutStep{{NewActorShare: 150}}}, "newActorShare"},
		{"unknown strategy", rivetv1.RolloutSpec{Strategy: "Canary"}, "strategy"},
		{"pause too long", rivetv1.RolloutSpec{Strategy: rivetv1.RolloutProgressive, Steps: []rivetv1.RolloutStep{{NewActorShare: 10, Pause: &metav1.Duration{Duration: 200 * time.Hour}}}}, "pause"},
	} {
		p := pool("bad", "eng")
		p.Spec.Rollout = tc.ro
		p.SetNamespace(e.ns)
		err := k8sClient.Create(e.ctx, p)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: create = %v, want an error about %q", tc.name, err, tc.err)
			if err == nil {
				_ = k8sClient.Delete(e.ctx, p)
			}
		}
	}
	// Defaults: AllAtOnce, gate 5% over 20 calls, pause 1m.
	p := pool("good", "eng")
	p.Spec.Rollout = rivetv1.RolloutSpec{Strategy: rivetv1.RolloutProgressive, Steps: []rivetv1.RolloutStep{{NewActorShare: 10}}}
	e.create(p, pool("plain", "eng"))
	got := e.pool("good").Spec.Rollout
	if ptr.Deref(got.Gate.MaxErrorPercent, -1) != 5 || got.Gate.MinCalls != 20 || got.Steps[0].Pause == nil || got.Steps[0].Pause.Duration != time.Minute {
		t.Errorf("defaults = %+v", got)
	}
	if s := e.pool("plain").Spec.Rollout.Strategy; s != rivetv1.RolloutAllAtOnce {
		t.Errorf("default strategy = %q", s)
	}
}

func TestRolloutCrashLoopRollsBack(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.Rollout = rivetv1.RolloutSpec{Strategy: rivetv1.RolloutProgressive, Steps: []rivetv1.RolloutStep{
		{NewActorShare: 10, Pause: &metav1.Duration{Duration: time.Hour}},
	}}
	e.startV1(p)
	e.actors("app", "cl-", 4)
	e.create(version("app-2", "app", 2))
	e.waitFor("deployment app-v2", 20*time.Second, func() (bool, string) { return e.deployment("app-v2") != nil, "absent" })
	e.startRunner("app", 2)
	e.makeAvailable("app-v2")
	e.awaitRamp("app", 1, 10, 0)

	// One of version 2's pods starts crash-looping (the kubelet's report).
	e.statusPod("app-v2-crash", runnerLabels("eng", "app", 2), corev1.PodStatus{
		Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: RunnerContainer, RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}}}},
	})
	e.waitFor("rolled back on the crash loop", 30*time.Second, func() (bool, string) {
		ro := e.rollout("app")
		return ro.Phase == rivetv1.RolloutRolledBack && ro.Reason == "CrashLoops" && ro.CrashLoops == 1, fmt.Sprintf("%+v", ro)
	})
	e.waitFor("routing back on version 1", 30*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return slices.Equal(st.Ready, []uint64{1}) && slices.Equal(st.Draining, []uint64{2}) && st.Ramp == nil, rampOf(st)
	})
	if c := meta.FindStatusCondition(e.pool("app").Status.Conditions, rivetv1.ConditionRolledBack); c == nil || c.Reason != "CrashLoops" {
		t.Errorf("RolledBack condition: %s", condString(e.pool("app").Status.Conditions))
	}
}
