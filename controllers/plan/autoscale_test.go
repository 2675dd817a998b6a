package plan

import (
	"testing"
	"time"
)

// steady is a pool whose version 1 is current with the given replicas and
// the gateway's runners.
func steady(replicas int32, actors int, runners ...Runner) (Desired, Observed) {
	d := desired(ver(1))
	g := gw([]int64{1}, nil, map[int64]GatewayVersion{1: {Runners: len(runners), Actors: actors}})
	g.Runners = runners
	var pods []Pod
	for _, rn := range runners {
		pods = append(pods, Pod{Name: "pod-" + rn.ID, Version: 1, Address: rn.Address, Ready: true})
	}
	o := Observed{Now: t0, LatestVersion: 1,
		Previous:    []VersionState{{Name: "v1", Version: 1, Phase: Current, Replicas: replicas}},
		Deployments: map[int64]Deployment{1: avail(replicas)}, Gateway: g, Pods: pods}
	return d, o
}

func runner(id string, actors int) Runner {
	return Runner{ID: id, Version: 1, Address: "10.0.0." + id + ":6421", Alive: true, Actors: actors}
}

func TestAutoscale(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(*Desired, *Observed)
		replicas int32 // planned replicas of version 1
		desired  int32
		mark     string
		unmark   string
		remove   string
		victim   string // runner id of the ScaleDown in progress
	}{
		{
			name:     "scale up from actor counts",
			mutate:   func(d *Desired, o *Observed) { o.Gateway.Actors = 35 },
			replicas: 4, desired: 4,
		},
		{
			name:     "scale up is capped by maxReplicas",
			mutate:   func(d *Desired, o *Observed) { o.Gateway.Actors = 500 },
			replicas: 10, desired: 10,
		},
		{
			name: "scale up waits for the lowest recommendation of the up window",
			mutate: func(d *Desired, o *Observed) {
				d.ScaleUpWindow = time.Minute
				o.Gateway.Actors = 60
				o.Recommendations = []Recommendation{{At: t0.Add(-30 * time.Second), Replicas: 3}}
			},
			replicas: 3, desired: 3,
		},
		{
			name: "scale down keeps the highest recommendation of the down window",
			mutate: func(d *Desired, o *Observed) {
				d.ScaleDownWindow = 5 * time.Minute
				o.Gateway.Actors = 5
				o.Recommendations = []Recommendation{{At: t0.Add(-time.Minute), Replicas: 2}}
			},
			replicas: 2, desired: 2,
		},
		{
			name:     "steady at the target",
			mutate:   func(d *Desired, o *Observed) { o.Gateway.Actors = 20 },
			replicas: 2, desired: 2,
		},
		{
			name:     "scale down marks the emptiest runner draining and holds the replicas",
			mutate:   func(d *Desired, o *Observed) { o.Gateway.Actors = 9 },
			replicas: 2, desired: 1, mark: "2", victim: "2",
		},
		{
			name: "victim still has actors: keep waiting",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 9
				o.Gateway.Runners[1].Draining = true
				o.ScaleDown = &ScaleDown{Version: 1, Pod: "pod-2", RunnerID: "2", StartedAt: t0.Add(-10 * time.Second)}
			},
			replicas: 2, desired: 1, victim: "2",
		},
		{
			name: "victim drained: its pod goes first and replicas drop",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 9
				o.Gateway.Runners[1].Actors = 0
				o.Gateway.Runners[1].Draining = true
				o.ScaleDown = &ScaleDown{Version: 1, Pod: "pod-2", RunnerID: "2", StartedAt: t0.Add(-10 * time.Second)}
			},
			replicas: 1, desired: 1, remove: "pod-2",
		},
		{
			name: "victim drain timed out: removed anyway",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 9
				o.ScaleDown = &ScaleDown{Version: 1, Pod: "pod-2", RunnerID: "2", StartedAt: t0.Add(-2 * time.Minute)}
			},
			replicas: 1, desired: 1, remove: "pod-2",
		},
		{
			name: "load came back: the victim is released",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 20
				o.ScaleDown = &ScaleDown{Version: 1, Pod: "pod-2", RunnerID: "2", StartedAt: t0.Add(-10 * time.Second)}
			},
			replicas: 2, desired: 2, unmark: "2",
		},
		{
			name: "empty runner is removed at once",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 9
				o.Gateway.Runners[1].Actors = 0
			},
			replicas: 1, desired: 1, mark: "2", remove: "pod-2",
		},
		{
			name: "a pod without a runner goes before any runner is drained",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 9
				o.Pods = append(o.Pods, Pod{Name: "pod-starting", Version: 1, Address: "10.0.0.9:6421"})
				o.Deployments[1] = avail(3)
				o.Previous[0].Replicas = 3
			},
			replicas: 2, desired: 1, remove: "pod-starting",
		},
		{
			name: "a replica without a pod goes first",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 9
				o.Deployments[1] = avail(3)
				o.Previous[0].Replicas = 3
			},
			replicas: 2, desired: 1,
		},
		{
			name: "gateway unreachable: replicas hold",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway = nil
			},
			replicas: 2, desired: 2,
		},
		{
			name: "external mode applies spec.replicas and ignores actors",
			mutate: func(d *Desired, o *Observed) {
				d.Mode = ModeExternal
				five := int32(5)
				d.ExternalReplicas = &five
				o.Gateway.Actors = 0
			},
			replicas: 5, desired: 5,
		},
		{
			name: "external mode without spec.replicas keeps the Deployment's",
			mutate: func(d *Desired, o *Observed) {
				d.Mode = ModeExternal
				o.Gateway.Actors = 1000
			},
			replicas: 2, desired: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, o := steady(2, 15, runner("1", 6), runner("2", 3))
			tc.mutate(&d, &o)
			r := Plan(d, o)
			if got := find(r, 1).Replicas; got != tc.replicas {
				t.Errorf("replicas = %d, want %d", got, tc.replicas)
			}
			if r.DesiredReplicas != tc.desired {
				t.Errorf("desired = %d, want %d", r.DesiredReplicas, tc.desired)
			}
			if r.MarkDraining != tc.mark || r.UnmarkDraining != tc.unmark || r.RemovePod != tc.remove {
				t.Errorf("mark %q unmark %q remove %q, want %q %q %q", r.MarkDraining, r.UnmarkDraining, r.RemovePod, tc.mark, tc.unmark, tc.remove)
			}
			victim := ""
			if r.ScaleDown != nil {
				victim = r.ScaleDown.RunnerID
			}
			if victim != tc.victim {
				t.Errorf("victim = %q, want %q", victim, tc.victim)
			}
		})
	}
}

// TestAutoscaleStaleAndLostState covers the cases where the operator's view
// lags or its record of a victim was lost (leader change, stale cache).
func TestAutoscaleStaleAndLostState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(*Desired, *Observed)
		replicas int32
		mark     string
		unmark   string
		remove   string
		victim   string
	}{
		{
			name: "a runner left draining is the next victim, not a second one",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 9
				o.Gateway.Runners[0].Draining = true // runner 1 has 6 actors
			},
			replicas: 2, victim: "1",
		},
		{
			name: "an orphan draining mark is cleared when no scale-down is needed",
			mutate: func(d *Desired, o *Observed) {
				o.Gateway.Actors = 20
				o.Gateway.Runners[1].Draining = true
			},
			replicas: 2, unmark: "2",
		},
		{
			name: "a released pod is not counted: the planned replicas are the truth",
			mutate: func(d *Desired, o *Observed) {
				// The last plan lowered 3 → 2 and marked pod-3; the Deployment
				// still says 3. Actors want 1 runner.
				o.Gateway.Actors = 9
				o.Gateway.Runners = append(o.Gateway.Runners, Runner{ID: "3", Version: 1, Address: "10.0.0.3:6421", Alive: true, Draining: true})
				o.Pods = append(o.Pods, Pod{Name: "pod-3", Version: 1, Address: "10.0.0.3:6421", Ready: true, MarkedForRemoval: true})
				o.Deployments[1] = avail(3)
			},
			replicas: 2, mark: "2", victim: "2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, o := steady(2, 15, runner("1", 6), runner("2", 3))
			tc.mutate(&d, &o)
			r := Plan(d, o)
			if got := find(r, 1).Replicas; got != tc.replicas {
				t.Errorf("replicas = %d, want %d", got, tc.replicas)
			}
			if r.MarkDraining != tc.mark || r.UnmarkDraining != tc.unmark || r.RemovePod != tc.remove {
				t.Errorf("mark %q unmark %q remove %q, want %q %q %q", r.MarkDraining, r.UnmarkDraining, r.RemovePod, tc.mark, tc.unmark, tc.remove)
			}
			victim := ""
			if r.ScaleDown != nil {
				victim = r.ScaleDown.RunnerID
			}
			if victim != tc.victim {
				t.Errorf("victim = %q, want %q", victim, tc.victim)
			}
		})
	}
}
