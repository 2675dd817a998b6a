package plan

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPlanRollout runs Plan with rollout strategies: what each rollout
// phase does to the versions' phases, the current version and the
// gateway's routing.
func TestPlanRollout(t *testing.T) {
	t.Parallel()
	prog := RolloutSpec{Strategy: Progressive, Steps: []RampStep{
		{NewPercent: 10, MovePercent: 0, Pause: time.Minute},
		{NewPercent: 50, MovePercent: 50, Pause: time.Minute},
	}, Gate: Gate{MaxErrorPercent: 5, MinCalls: 20, MaxActivationFailures: -1, MaxCrashLoops: 0}}
	withRollout := func(s RolloutSpec) Desired {
		d := desired(ver(1), ver(2))
		d.Rollout = s
		return d
	}
	state := func(v int64, ph Phase, replicas int32) VersionState {
		return VersionState{Name: ver(v).Name, Version: v, Phase: ph, Replicas: replicas}
	}
	deps := map[int64]Deployment{1: avail(1), 2: avail(1)}
	versions := func(a1, a2 int, calls, failed int64) map[int64]GatewayVersion {
		return map[int64]GatewayVersion{1: {Runners: 1, LiveRunners: 1, Actors: a1}, 2: {Runners: 1, LiveRunners: 1, Actors: a2, Calls: calls, FailedCalls: failed}}
	}
	rampingAt := func(step int32, since time.Duration) *RolloutState {
		return &RolloutState{From: 1, To: 2, Phase: Ramping, Step: step, StepStartedAt: t0.Add(since), LastTransition: t0.Add(since)}
	}
	tests := []struct {
		name    string
		d       Desired
		o       Observed
		phases  map[int64]Phase
		current int64
		routing *Routing // nil: no routing change
		rollout RolloutPhase
		step    int32
		changed bool
		waiting string
	}{
		{
			name: "all at once switches as without a rollout",
			d:    withRollout(RolloutSpec{Strategy: AllAtOnce}),
			o: Observed{Now: t0, LatestVersion: 2, Deployments: deps,
				Previous: []VersionState{state(1, Current, 1), state(2, Pending, 1)}, Gateway: gw([]int64{1}, nil, versions(10, 0, 0, 0))},
			phases: map[int64]Phase{1: Draining, 2: Ready}, current: 2,
			routing: &Routing{Ready: []int64{2}, Draining: []int64{1}, DrainRate: 50},
			rollout: Promoted, changed: true,
		},
		{
			name: "progressive starts a ramp: version 1 stays current, version 2 ramps",
			d:    withRollout(prog),
			o: Observed{Now: t0, LatestVersion: 2, Deployments: deps,
				Previous: []VersionState{state(1, Current, 1), state(2, Pending, 1)}, Gateway: gw([]int64{1}, nil, versions(10, 0, 0, 0))},
			phases: map[int64]Phase{1: Current, 2: PhaseRamping}, current: 1,
			routing: &Routing{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 10}},
			rollout: Ramping, changed: true, waiting: "step 1: holding",
		},
		{
			name: "a ramp the gateway applied holds its pause without routing changes",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(30 * time.Second), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(0, 0),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)},
				Gateway:  &Gateway{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 10}, Versions: versions(9, 1, 10, 0)}},
			phases: map[int64]Phase{1: Current, 2: PhaseRamping}, current: 1,
			rollout: Ramping, waiting: "step 1: holding",
		},
		{
			name: "the next step after the pause",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(time.Minute), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(0, 0),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)},
				Gateway:  &Gateway{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 10}, Versions: versions(9, 1, 100, 1)}},
			phases: map[int64]Phase{1: Current, 2: PhaseRamping}, current: 1,
			routing: &Routing{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 50, MovePercent: 50}},
			rollout: Ramping, step: 1, changed: true, waiting: "step 2: moving actors",
		},
		{
			name: "a failed gate rolls back: version 1 current again, version 2 drains back",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(90 * time.Second), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(1, time.Minute),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)},
				Gateway:  &Gateway{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 50, MovePercent: 50}, Versions: versions(5, 5, 100, 30)}},
			phases: map[int64]Phase{1: Ready, 2: Draining}, current: 1,
			routing: &Routing{Ready: []int64{1}, Draining: []int64{2}, DrainRate: 50},
			rollout: RolledBack, step: 1, changed: true, waiting: "rolled back from version 2: ErrorRate",
		},
		{
			name: "after the rollback version 2 stays out until drained",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(2 * time.Minute), LatestVersion: 2, Deployments: deps,
				Rollout:  &RolloutState{From: 1, To: 2, Phase: RolledBack, Step: 1, Reason: "ErrorRate"},
				Previous: []VersionState{state(1, Ready, 1), state(2, Draining, 1)},
				Gateway:  gw([]int64{1}, []int64{2}, versions(10, 0, 100, 30))},
			phases: map[int64]Phase{1: Current, 2: Drained}, current: 1,
			rollout: RolledBack, step: 1,
		},
		{
			name: "a crash-looping runner of the new version rolls back",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(10 * time.Second), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(0, 0),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)},
				Pods:     []Pod{{Name: "p2", Version: 2, CrashLooping: true}},
				Gateway:  &Gateway{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 10}, Versions: versions(10, 0, 0, 0)}},
			phases: map[int64]Phase{1: Ready, 2: Draining}, current: 1,
			routing: &Routing{Ready: []int64{1}, Draining: []int64{2}, DrainRate: 50},
			rollout: RolledBack, changed: true, waiting: "CrashLoops",
		},
		{
			name: "promotion after the last step",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(5 * time.Minute), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(1, time.Minute),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)},
				Gateway:  &Gateway{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 50, MovePercent: 50}, Versions: versions(5, 5, 100, 1)}},
			phases: map[int64]Phase{1: Draining, 2: Current}, current: 2,
			routing: &Routing{Ready: []int64{2}, Draining: []int64{1}, DrainRate: 50},
			rollout: Promoted, step: 2, changed: true,
		},
		{
			name: "a promoted rollout stays as it was once the old version is drained",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(time.Hour), LatestVersion: 2, Deployments: map[int64]Deployment{1: {}, 2: avail(1)},
				Rollout:  &RolloutState{From: 1, To: 2, Phase: Promoted, Step: 2, LastTransition: t0},
				Previous: []VersionState{{Name: "v1", Version: 1, Phase: Drained, DrainedAt: at(0)}, state(2, Current, 1)},
				Gateway:  gw([]int64{2}, []int64{1}, versions(0, 10, 100, 1))},
			phases: map[int64]Phase{1: Drained, 2: Current}, current: 2,
			rollout: Promoted, step: 2,
		},
		{
			name: "deleting the stable version during a ramp promotes",
			d: func() Desired {
				d := withRollout(prog)
				d.Versions[0] = deleting(ver(1))
				return d
			}(),
			o: Observed{Now: t0.Add(10 * time.Second), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(0, 0),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)},
				Gateway:  &Gateway{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 10}, Versions: versions(9, 1, 10, 0)}},
			phases: map[int64]Phase{1: Draining, 2: Current}, current: 2,
			routing: &Routing{Ready: []int64{2}, Draining: []int64{1}, DrainRate: 50},
			rollout: Promoted, step: 2, changed: true,
		},
		{
			name: "deleting the ramping version ends the rollout as rolled back",
			d: func() Desired {
				d := withRollout(prog)
				d.Versions[1] = deleting(ver(2))
				return d
			}(),
			o: Observed{Now: t0.Add(10 * time.Second), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(0, 0),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)},
				Gateway:  &Gateway{Ready: []int64{2, 1}, Draining: []int64{}, DrainRate: 50, Ramp: &Ramp{Version: 2, NewPercent: 10}, Versions: versions(9, 1, 10, 0)}},
			phases: map[int64]Phase{1: Ready, 2: Draining}, current: 1,
			routing: &Routing{Ready: []int64{1}, Draining: []int64{2}, DrainRate: 50},
			rollout: RolledBack, changed: true, waiting: "",
		},
		{
			name: "an unreachable gateway holds the ramp",
			d:    withRollout(prog),
			o: Observed{Now: t0.Add(time.Hour), LatestVersion: 2, Deployments: deps, Rollout: rampingAt(0, 0),
				Previous: []VersionState{state(1, Current, 1), state(2, PhaseRamping, 1)}},
			phases: map[int64]Phase{1: Current, 2: PhaseRamping}, current: 1,
			rollout: Ramping,
		},
		{
			name: "a ramp does not start while the gateway is unreachable",
			d:    withRollout(prog),
			o: Observed{Now: t0, LatestVersion: 2, Deployments: deps,
				Previous: []VersionState{state(1, Current, 1), state(2, Pending, 1)}},
			phases: map[int64]Phase{1: Current, 2: PhaseRamping}, current: 1,
		},
		{
			name: "a version newer than a rolled-back one ramps from the stable version",
			d: func() Desired {
				d := withRollout(prog)
				d.Versions = append(d.Versions, ver(3))
				return d
			}(),
			o: Observed{Now: t0.Add(time.Hour), LatestVersion: 3, Deployments: map[int64]Deployment{1: avail(1), 2: avail(1), 3: avail(1)},
				Rollout:  &RolloutState{From: 1, To: 2, Phase: RolledBack, Step: 1, Reason: "ErrorRate"},
				Previous: []VersionState{state(1, Current, 1), state(2, Draining, 1), state(3, Pending, 1)},
				Gateway:  gw([]int64{1}, []int64{2}, map[int64]GatewayVersion{1: {Actors: 10}, 2: {Actors: 1}, 3: {}})},
			phases: map[int64]Phase{1: Current, 2: Draining, 3: PhaseRamping}, current: 1,
			routing: &Routing{Ready: []int64{3, 1}, Draining: []int64{2}, DrainRate: 50, Ramp: &Ramp{Version: 3, NewPercent: 10}},
			rollout: Ramping, changed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Plan(tc.d, tc.o)
			for v, ph := range tc.phases {
				if got := find(r, v).Phase; got != ph {
					t.Errorf("version %d phase = %s, want %s", v, got, ph)
				}
			}
			if r.Current != tc.current {
				t.Errorf("current = %d, want %d", r.Current, tc.current)
			}
			if !reflect.DeepEqual(r.Routing, tc.routing) {
				t.Errorf("routing = %+v, want %+v", r.Routing, tc.routing)
			}
			if tc.rollout == "" {
				if r.Rollout != nil {
					t.Errorf("rollout = %+v, want none", r.Rollout)
				}
				return
			}
			if r.Rollout == nil {
				t.Fatalf("no rollout, want %s", tc.rollout)
			}
			if r.Rollout.State.Phase != tc.rollout || r.Rollout.State.Step != tc.step || r.Rollout.Changed != tc.changed ||
				tc.o.Rollout != nil && !tc.changed && !reflect.DeepEqual(r.Rollout.State, *tc.o.Rollout) {
				t.Errorf("rollout = %+v, want phase %s step %d changed %v", r.Rollout.State, tc.rollout, tc.step, tc.changed)
			}
			if !strings.Contains(r.Waiting, tc.waiting) && !strings.Contains(r.Rollout.Waiting, tc.waiting) {
				t.Errorf("waiting = %q / %q, want %q", r.Waiting, r.Rollout.Waiting, tc.waiting)
			}
			if (r.Rollout.State.Phase == Ramping) != r.Progressing && r.Rollout.State.Phase == Ramping {
				t.Errorf("a ramping rollout must be progressing")
			}
		})
	}
}

// TestPlanRolloutWalk runs Plan pass by pass as the operator does (the
// plan fed back as the previous state, the routing applied by a simulated
// gateway that moves actors as the routing asks), through a progressive
// rollout of a healthy version and then of a failing one, and checks the
// invariants of every pass: one Current version, a ramp only between the
// Current and the Ramping version, the rolled-back version never current.
func TestPlanRolloutWalk(t *testing.T) {
	t.Parallel()
	spec := RolloutSpec{Strategy: Progressive, Steps: []RampStep{
		{NewPercent: 10, MovePercent: 0, Pause: time.Minute},
		{NewPercent: 50, MovePercent: 40, Pause: time.Minute},
	}, Gate: Gate{MaxErrorPercent: 5, MinCalls: 20, MaxActivationFailures: -1}}
	d := desired(ver(1))
	d.Rollout = spec
	deps := map[int64]Deployment{1: avail(1), 2: avail(1), 3: avail(1)}
	gwy := &Gateway{Ready: []int64{}, Draining: []int64{}, DrainRate: 50, Versions: map[int64]GatewayVersion{}}
	actors := map[int64]int{1: 100}
	health := map[int64]GatewayVersion{}
	var prev []VersionState
	var ro *RolloutState
	var latest int64
	now := t0
	pass := func() Result {
		t.Helper()
		gwy.Versions = map[int64]GatewayVersion{}
		gwy.Actors = 0
		for v, n := range actors {
			h := health[v]
			gwy.Versions[v] = GatewayVersion{Runners: 1, LiveRunners: 1, Actors: n, Calls: h.Calls, FailedCalls: h.FailedCalls}
			gwy.Actors += n
		}
		g := *gwy
		r := Plan(d, Observed{Now: now, LatestVersion: latest, Previous: prev, Deployments: deps, Gateway: &g, Rollout: ro})
		if r.Routing != nil {
			gwy.Ready, gwy.Draining, gwy.Ramp = r.Routing.Ready, r.Routing.Draining, r.Routing.Ramp
		}
		// The gateway moves actors: a ramp's share, or every actor off
		// draining versions to the newest ready one.
		if rp := gwy.Ramp; rp != nil {
			other := gwy.Ready[1]
			want := (actors[rp.Version]+actors[other])*int(rp.MovePercent) + 99
			want /= 100
			moved := want - actors[rp.Version]
			actors[rp.Version] += moved
			actors[other] -= moved
		}
		if len(gwy.Ready) > 0 {
			to := slices.Max(gwy.Ready)
			if gwy.Ramp != nil {
				to = gwy.Ready[1]
			}
			for _, v := range gwy.Draining {
				actors[to] += actors[v]
				actors[v] = 0
			}
		}
		// Invariants.
		current := 0
		for _, vp := range r.Versions {
			if vp.Phase == Current {
				current++
				if vp.Version != r.Current {
					t.Fatalf("version %d is Current but the plan's current is %d", vp.Version, r.Current)
				}
			}
			if ro != nil && ro.Phase == RolledBack && vp.Version == ro.To && (vp.Phase == Current || vp.Phase == PhaseRamping) {
				t.Fatalf("rolled-back version %d is %s", vp.Version, vp.Phase)
			}
		}
		if current > 1 {
			t.Fatalf("%d Current versions: %+v", current, r.Versions)
		}
		if rp := gwy.Ramp; rp != nil && (len(gwy.Ready) != 2 || find(r, rp.Version).Phase != PhaseRamping || find(r, gwy.Ready[1]).Phase != Current) {
			t.Fatalf("ramp %+v with ready %v and phases %+v", rp, gwy.Ready, r.Versions)
		}
		prev = prev[:0]
		for _, vp := range r.Versions {
			prev = append(prev, VersionState{Name: vp.Name, Version: vp.Version, Phase: vp.Phase, Rejected: vp.Rejected, Replicas: vp.Replicas, DrainStartedAt: vp.DrainStartedAt, DrainedAt: vp.DrainedAt})
		}
		latest = r.LatestVersion
		if r.Rollout != nil {
			s := r.Rollout.State
			ro = &s
		}
		now = now.Add(10 * time.Second)
		return r
	}
	walk := func(what string, done func(Result) bool) {
		t.Helper()
		for range 200 {
			if done(pass()) {
				return
			}
		}
		t.Fatalf("%s: not reached in 200 passes; rollout %+v, actors %v, gateway %+v", what, ro, actors, gwy)
	}
	walk("version 1 current", func(r Result) bool { return r.Current == 1 && r.Routing == nil })

	// A healthy version 2: ramps, holds each pause, is promoted.
	d.Versions = append(d.Versions, ver(2))
	health[2] = GatewayVersion{Calls: 1000, FailedCalls: 1}
	var shares [][2]int32
	walk("version 2 promoted, version 1 drained", func(r Result) bool {
		if r.Rollout != nil && r.Rollout.Changed {
			shares = append(shares, [2]int32{r.Rollout.NewPercent, r.Rollout.MovePercent})
		}
		return find(r, 1).Phase == Drained && r.Current == 2 && actors[1] == 0
	})
	if want := [][2]int32{{10, 0}, {50, 40}, {100, 100}}; !slices.Equal(shares, want) {
		t.Fatalf("transitions %v, want %v", shares, want)
	}

	// A failing version 3: rolls back, its actors go back to version 2.
	d.Versions = append(d.Versions, ver(3))
	walk("version 3 ramping with actors", func(r Result) bool {
		return actors[3] > 0 || r.Rollout.State.Phase == Ramping && r.Rollout.State.Step == 1
	})
	health[3] = GatewayVersion{Calls: 100, FailedCalls: 50}
	walk("version 3 rolled back and drained", func(r Result) bool {
		return ro.Phase == RolledBack && find(r, 3).Phase == Drained && r.Current == 2 && actors[3] == 0
	})
	if ro.Reason != "ErrorRate" || ro.From != 2 || ro.To != 3 {
		t.Fatalf("rollback state %+v", ro)
	}
	// It stays so.
	for range 5 {
		if r := pass(); r.Current != 2 || r.Routing != nil || (r.Rollout != nil && r.Rollout.Changed) {
			t.Fatalf("after the rollback the plan moved: current %d routing %+v rollout %+v", r.Current, r.Routing, r.Rollout)
		}
	}
}
