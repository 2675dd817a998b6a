package plan

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func desired(vs ...Version) Desired {
	return Desired{
		Mode: ModeOperator, MinReplicas: 1, MaxReplicas: 10, TargetActorsPerRunner: 10,
		ScaleDownWindow: 0, DrainRate: 50, DrainTimeout: time.Minute, DeleteDrainedAfter: 10 * time.Minute,
		ActivePoll: 2 * time.Second, IdlePoll: 30 * time.Second, Versions: vs,
	}
}

func ver(n int64) Version {
	return Version{Name: "v" + string(rune('0'+n)), Version: n, Created: t0.Add(time.Duration(n) * time.Second)}
}

func deleting(v Version) Version { v.Deleting = true; return v }

func avail(replicas int32) Deployment {
	return Deployment{Replicas: replicas, Available: replicas, Updated: true}
}

func gw(ready, draining []int64, vs map[int64]GatewayVersion) *Gateway {
	g := &Gateway{Ready: ready, Draining: draining, DrainRate: 50, Versions: vs}
	for _, v := range vs {
		g.Actors += v.Actors
	}
	return g
}

func find(r Result, v int64) VersionPlan {
	for _, vp := range r.Versions {
		if vp.Version == v {
			return vp
		}
	}
	return VersionPlan{Phase: "absent"}
}

// TestPlanPhases walks every phase transition of a rollout.
func TestPlanPhases(t *testing.T) {
	t.Parallel()
	cur := func(v int64, replicas int32) VersionState {
		return VersionState{Name: ver(v).Name, Version: v, Phase: Current, Replicas: replicas}
	}
	tests := []struct {
		name        string
		d           Desired
		o           Observed
		phases      map[int64]Phase
		replicas    map[int64]int32
		current     int64
		routing     *Routing // nil: no routing change
		deleted     []int64
		finalized   []int64
		rejected    []int64
		progressing bool
	}{
		{
			name:        "first version without Deployment is Pending",
			d:           desired(ver(1)),
			o:           Observed{Now: t0, Gateway: gw(nil, nil, nil)},
			phases:      map[int64]Phase{1: Pending},
			replicas:    map[int64]int32{1: 1},
			progressing: true,
		},
		{
			name:        "first version available becomes Ready and is routed",
			d:           desired(ver(1)),
			o:           Observed{Now: t0, LatestVersion: 1, Previous: []VersionState{{Name: "v1", Version: 1, Phase: Pending, Replicas: 1}}, Deployments: map[int64]Deployment{1: avail(1)}, Gateway: gw(nil, nil, nil)},
			phases:      map[int64]Phase{1: Ready},
			current:     1,
			routing:     &Routing{Ready: []int64{1}, Draining: []int64{}, DrainRate: 50},
			progressing: true,
		},
		{
			name:     "routed version becomes Current and the pool settles",
			d:        desired(ver(1)),
			o:        Observed{Now: t0, LatestVersion: 1, Previous: []VersionState{{Name: "v1", Version: 1, Phase: Ready, Replicas: 1}}, Deployments: map[int64]Deployment{1: avail(1)}, Gateway: gw([]int64{1}, nil, nil)},
			phases:   map[int64]Phase{1: Current},
			replicas: map[int64]int32{1: 1},
			current:  1,
		},
		{
			name: "version 2 not yet available: Pending with the current replicas, routing unchanged",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0, LatestVersion: 1, Previous: []VersionState{cur(1, 3)},
				Deployments: map[int64]Deployment{1: avail(3), 2: {Replicas: 3, Available: 1, Updated: true}},
				Gateway:     gw([]int64{1}, nil, map[int64]GatewayVersion{1: {Runners: 3, LiveRunners: 3, Actors: 25}})},
			phases:      map[int64]Phase{1: Current, 2: Pending},
			replicas:    map[int64]int32{1: 3, 2: 3},
			current:     1,
			progressing: true,
		},
		{
			name: "version 2 available: routing switches, version 1 starts draining",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{{Name: "v2", Version: 2, Phase: Pending, Replicas: 3}, cur(1, 3)},
				Deployments: map[int64]Deployment{1: avail(3), 2: avail(3)},
				Gateway:     gw([]int64{1}, nil, map[int64]GatewayVersion{1: {Runners: 3, Actors: 25}})},
			phases:      map[int64]Phase{1: Draining, 2: Ready},
			replicas:    map[int64]int32{1: 3, 2: 3},
			current:     2,
			routing:     &Routing{Ready: []int64{2}, Draining: []int64{1}, DrainRate: 50},
			progressing: true,
		},
		{
			name: "gateway confirmed: version 2 Current, version 1 Draining with actors left",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{{Name: "v2", Version: 2, Phase: Ready, Replicas: 3}, {Name: "v1", Version: 1, Phase: Draining, Replicas: 3, DrainStartedAt: at(0)}},
				Deployments: map[int64]Deployment{1: avail(3), 2: avail(3)},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{1: {Actors: 10}, 2: {Actors: 15}})},
			phases:      map[int64]Phase{1: Draining, 2: Current},
			replicas:    map[int64]int32{1: 3, 2: 3},
			current:     2,
			progressing: true,
		},
		{
			name: "version 1 has no actors left: Drained and scaled to zero",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0.Add(time.Minute), LatestVersion: 2, Previous: []VersionState{cur(2, 3), {Name: "v1", Version: 1, Phase: Draining, Replicas: 3, DrainStartedAt: at(0)}},
				Deployments: map[int64]Deployment{1: avail(3), 2: avail(3)},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{1: {Runners: 3}, 2: {Actors: 25}})},
			phases:   map[int64]Phase{1: Drained, 2: Current},
			replicas: map[int64]int32{1: 0, 2: 3},
			current:  2,
		},
		{
			name: "drained version is deleted after the delay",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0.Add(11 * time.Minute), LatestVersion: 2, Previous: []VersionState{cur(2, 3), {Name: "v1", Version: 1, Phase: Drained, DrainStartedAt: at(0), DrainedAt: at(time.Minute)}},
				Deployments: map[int64]Deployment{1: avail(0), 2: avail(3)},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{2: {Actors: 25}})},
			phases:   map[int64]Phase{1: Drained, 2: Current},
			replicas: map[int64]int32{1: 0},
			current:  2,
			deleted:  []int64{1},
		},
		{
			name: "deleted version leaves the routing",
			d:    desired(ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{cur(2, 3)},
				Deployments: map[int64]Deployment{2: avail(3)},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{2: {Actors: 25}})},
			phases:      map[int64]Phase{2: Current},
			current:     2,
			routing:     &Routing{Ready: []int64{2}, Draining: []int64{}, DrainRate: 50},
			progressing: true,
		},
		{
			name: "deleting an old version drains it first",
			d:    desired(deleting(ver(1)), ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{cur(2, 3), {Name: "v1", Version: 1, Phase: Ready, Replicas: 2}},
				Deployments: map[int64]Deployment{1: avail(2), 2: avail(3)},
				Gateway:     gw([]int64{2}, nil, map[int64]GatewayVersion{1: {Actors: 4}, 2: {Actors: 25}})},
			phases:      map[int64]Phase{1: Draining, 2: Current},
			replicas:    map[int64]int32{1: 2},
			current:     2,
			routing:     &Routing{Ready: []int64{2}, Draining: []int64{1}, DrainRate: 50},
			progressing: true,
		},
		{
			name: "deleting version drained: finalized, not deleted again",
			d:    desired(deleting(ver(1)), ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{cur(2, 3), {Name: "v1", Version: 1, Phase: Draining, Replicas: 2, DrainStartedAt: at(0)}},
				Deployments: map[int64]Deployment{1: avail(2), 2: avail(3)},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{2: {Actors: 25}})},
			phases:    map[int64]Phase{1: Drained, 2: Current},
			replicas:  map[int64]int32{1: 0},
			current:   2,
			finalized: []int64{1},
		},
		{
			name: "deleting the only version: nothing takes its actors, Drained at once",
			d:    desired(deleting(ver(1))),
			o: Observed{Now: t0, LatestVersion: 1, Previous: []VersionState{cur(1, 2)},
				Deployments: map[int64]Deployment{1: avail(2)},
				Gateway:     gw([]int64{1}, nil, map[int64]GatewayVersion{1: {Actors: 5}})},
			phases:      map[int64]Phase{1: Drained},
			replicas:    map[int64]int32{1: 0},
			finalized:   []int64{1},
			routing:     &Routing{Ready: []int64{}, Draining: []int64{1}, DrainRate: 50},
			progressing: true,
		},
		{
			name: "deleting the current version falls back to an available older one",
			d:    desired(ver(1), deleting(ver(2))),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{cur(2, 3), {Name: "v1", Version: 1, Phase: Draining, Replicas: 3, DrainStartedAt: at(0)}},
				Deployments: map[int64]Deployment{1: avail(3), 2: avail(3)},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{1: {Actors: 3}, 2: {Actors: 20}})},
			phases:      map[int64]Phase{1: Ready, 2: Draining},
			current:     1,
			routing:     &Routing{Ready: []int64{1}, Draining: []int64{2}, DrainRate: 50},
			progressing: true,
		},
		{
			name: "current never goes back when the newest becomes unavailable",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{cur(2, 3), {Name: "v1", Version: 1, Phase: Draining, Replicas: 3, DrainStartedAt: at(0)}},
				Deployments: map[int64]Deployment{1: avail(3), 2: {Replicas: 3, Available: 1, Updated: true}},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{1: {Actors: 3}, 2: {Actors: 20}})},
			phases:      map[int64]Phase{1: Draining, 2: Current},
			current:     2,
			progressing: true,
		},
		{
			name: "a lower version is rejected for good",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{cur(2, 1)},
				Deployments: map[int64]Deployment{2: avail(1)},
				Gateway:     gw([]int64{2}, nil, nil)},
			phases:   map[int64]Phase{1: Pending, 2: Current},
			replicas: map[int64]int32{1: 0},
			current:  2,
			rejected: []int64{1},
		},
		{
			name:        "duplicate version: the first created wins",
			d:           desired(Version{Name: "a", Version: 3, Created: t0}, Version{Name: "b", Version: 3, Created: t0.Add(time.Second)}),
			o:           Observed{Now: t0, Gateway: gw(nil, nil, nil)},
			phases:      map[int64]Phase{3: Pending},
			replicas:    map[int64]int32{3: 1},
			rejected:    []int64{3},
			progressing: true,
		},
		{
			name: "version 3 created while 2 drains: 2 and 1 both drain once 3 is available",
			d:    desired(ver(1), ver(2), ver(3)),
			o: Observed{Now: t0, LatestVersion: 3, Previous: []VersionState{{Name: "v3", Version: 3, Phase: Pending, Replicas: 2}, cur(2, 2), {Name: "v1", Version: 1, Phase: Draining, Replicas: 2, DrainStartedAt: at(0)}},
				Deployments: map[int64]Deployment{1: avail(2), 2: avail(2), 3: avail(2)},
				Gateway:     gw([]int64{2}, []int64{1}, map[int64]GatewayVersion{1: {Actors: 1}, 2: {Actors: 9}})},
			phases:      map[int64]Phase{1: Draining, 2: Draining, 3: Ready},
			current:     3,
			routing:     &Routing{Ready: []int64{3}, Draining: []int64{1, 2}, DrainRate: 50},
			progressing: true,
		},
		{
			name: "gateway unreachable: no routing, drains do not complete",
			d:    desired(ver(1), ver(2)),
			o: Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{cur(2, 3), {Name: "v1", Version: 1, Phase: Draining, Replicas: 3, DrainStartedAt: at(0)}},
				Deployments: map[int64]Deployment{1: avail(3), 2: avail(3)}},
			phases:      map[int64]Phase{1: Draining, 2: Current},
			replicas:    map[int64]int32{1: 3, 2: 3},
			current:     2,
			progressing: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Plan(tc.d, tc.o)
			for v, want := range tc.phases {
				if got := find(r, v).Phase; got != want {
					t.Errorf("version %d phase = %s, want %s", v, got, want)
				}
			}
			for v, want := range tc.replicas {
				if got := find(r, v).Replicas; got != want {
					t.Errorf("version %d replicas = %d, want %d", v, got, want)
				}
			}
			if r.Current != tc.current {
				t.Errorf("current = %d, want %d", r.Current, tc.current)
			}
			switch {
			case tc.routing == nil && r.Routing != nil:
				t.Errorf("routing = %+v, want no change", *r.Routing)
			case tc.routing != nil && r.Routing == nil:
				t.Errorf("routing unchanged, want %+v", *tc.routing)
			case tc.routing != nil && !sameRouting(*tc.routing, *r.Routing):
				t.Errorf("routing = %+v, want %+v", *r.Routing, *tc.routing)
			}
			var deleted, finalized, rejected []int64
			for _, vp := range r.Versions {
				if vp.Delete {
					deleted = append(deleted, vp.Version)
				}
				if vp.Finalize {
					finalized = append(finalized, vp.Version)
				}
				if vp.Rejected {
					rejected = append(rejected, vp.Version)
					if vp.Message == "" {
						t.Errorf("rejected version %d has no message", vp.Version)
					}
				}
			}
			if !slices.Equal(deleted, tc.deleted) || !slices.Equal(finalized, tc.finalized) || !slices.Equal(rejected, tc.rejected) {
				t.Errorf("deleted %v finalized %v rejected %v, want %v %v %v", deleted, finalized, rejected, tc.deleted, tc.finalized, tc.rejected)
			}
			if r.Progressing != tc.progressing {
				t.Errorf("progressing = %v (waiting %q), want %v", r.Progressing, r.Waiting, tc.progressing)
			}
			if r.RequeueAfter <= 0 {
				t.Errorf("requeueAfter = %v, want a positive delay", r.RequeueAfter)
			}
		})
	}
}

// TestPlanIsPure checks that planning twice from the same input gives the
// same result (the executor relies on it to be idempotent).
func TestPlanIsPure(t *testing.T) {
	t.Parallel()
	d := desired(ver(1), ver(2))
	o := Observed{Now: t0, LatestVersion: 2, Previous: []VersionState{{Name: "v2", Version: 2, Phase: Pending, Replicas: 3}, {Name: "v1", Version: 1, Phase: Current, Replicas: 3}},
		Deployments: map[int64]Deployment{1: avail(3), 2: avail(3)},
		Gateway:     gw([]int64{1}, nil, map[int64]GatewayVersion{1: {Actors: 25}})}
	a, b := Plan(d, o), Plan(d, o)
	if a.Current != b.Current || !slices.EqualFunc(a.Versions, b.Versions, func(x, y VersionPlan) bool {
		return x.Phase == y.Phase && x.Replicas == y.Replicas && x.Name == y.Name
	}) {
		t.Fatalf("two plans differ:\n%+v\n%+v", a, b)
	}
	if o.Previous[0].Phase != Pending {
		t.Fatal("Plan modified its input")
	}
}
