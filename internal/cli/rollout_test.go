package cli

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

func pool(gen, observed, current, latest int64, vs ...rivetv1.PoolVersionStatus) *rivetv1.RunnerPool {
	p := &rivetv1.RunnerPool{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen}}
	p.Status.ObservedGeneration, p.Status.CurrentVersion, p.Status.LatestVersion, p.Status.Versions = observed, current, latest, vs
	return p
}

func pv(v int64, phase rivetv1.ActorVersionPhase, replicas, available, actors int32) rivetv1.PoolVersionStatus {
	return rivetv1.PoolVersionStatus{Version: v, Name: "web-v" + string(rune('0'+v)), Phase: phase, Replicas: replicas, AvailableReplicas: available, Actors: actors}
}

func degradedAV(reason, msg string) *rivetv1.ActorVersion {
	return &rivetv1.ActorVersion{Status: rivetv1.ActorVersionStatus{Conditions: []metav1.Condition{
		{Type: rivetv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: reason, Message: msg},
	}}}
}

func TestRolloutProgress(t *testing.T) {
	t.Parallel()
	rejected := pv(2, rivetv1.PhasePending, 0, 0, 0)
	rejected.Rejected, rejected.Message = true, "version 2 is not greater than 3"
	for _, tc := range []struct {
		name   string
		pool   *rivetv1.RunnerPool
		target *rivetv1.ActorVersion
		want   Rollout
	}{
		{
			name: "not planned yet",
			pool: pool(2, 1, 1, 1, pv(1, rivetv1.PhaseCurrent, 2, 2, 5)),
			want: Rollout{Stage: StageWaiting, Target: 1, Current: 1, Draining: []int64{}},
		},
		{
			name: "no version",
			pool: pool(1, 1, 0, 0),
			want: Rollout{Stage: StageWaiting, Draining: []int64{}},
		},
		{
			name:   "new version starting, image problem",
			pool:   pool(1, 1, 1, 2, pv(1, rivetv1.PhaseCurrent, 2, 2, 10), pv(2, rivetv1.PhasePending, 2, 1, 0)),
			target: degradedAV("ImagePullBackOff", "pod web-v2-x: image not found"),
			want: Rollout{Stage: StageStarting, Target: 2, Current: 1, TargetAvailable: 1, TargetReplicas: 2,
				ActorsLeft: 10, Draining: []int64{1}, Progress: 0.5, Problem: "ImagePullBackOff: pod web-v2-x: image not found"},
		},
		{
			name: "draining",
			pool: pool(1, 1, 2, 2, pv(1, rivetv1.PhaseDraining, 2, 2, 6), pv(2, rivetv1.PhaseCurrent, 2, 2, 4)),
			want: Rollout{Stage: StageDraining, Target: 2, Current: 2, TargetAvailable: 2, TargetReplicas: 2,
				ActorsMoved: 4, ActorsLeft: 6, Draining: []int64{1}, Progress: 0.4},
		},
		{
			name: "draining, no actors at all",
			pool: pool(1, 1, 2, 2, pv(1, rivetv1.PhaseDraining, 1, 1, 0), pv(2, rivetv1.PhaseCurrent, 1, 1, 0)),
			want: Rollout{Stage: StageDraining, Target: 2, Current: 2, TargetAvailable: 1, TargetReplicas: 1, Draining: []int64{1}, Progress: 1},
		},
		{
			name: "done",
			pool: pool(1, 1, 3, 3, pv(1, rivetv1.PhaseDrained, 0, 0, 0), pv(2, rivetv1.PhaseDrained, 0, 0, 0), pv(3, rivetv1.PhaseCurrent, 2, 2, 10)),
			want: Rollout{Stage: StageDone, Target: 3, Current: 3, TargetAvailable: 2, TargetReplicas: 2, ActorsMoved: 10, Draining: []int64{}, Progress: 1},
		},
		{
			name: "ramping",
			pool: func() *rivetv1.RunnerPool {
				p := pool(1, 1, 1, 2, pv(1, rivetv1.PhaseCurrent, 2, 2, 30), pv(2, rivetv1.PhaseRamping, 2, 2, 10))
				p.Status.Rollout = &rivetv1.RolloutStatus{Strategy: rivetv1.RolloutProgressive, FromVersion: 1, ToVersion: 2, Phase: rivetv1.RolloutRamping,
					Step: 2, Steps: 4, NewActorShare: 50, MoveShare: 25, FromActors: 30, ToActors: 10}
				return p
			}(),
			want: Rollout{Stage: StageRamping, Target: 2, Current: 1, TargetAvailable: 2, TargetReplicas: 2,
				ActorsMoved: 10, ActorsLeft: 30, Draining: []int64{1}, Progress: 0.25},
		},
		{
			name: "rolled back",
			pool: func() *rivetv1.RunnerPool {
				p := pool(1, 1, 1, 2, pv(1, rivetv1.PhaseCurrent, 2, 2, 38), pv(2, rivetv1.PhaseDraining, 2, 2, 2))
				p.Status.Rollout = &rivetv1.RolloutStatus{Strategy: rivetv1.RolloutProgressive, FromVersion: 1, ToVersion: 2, Phase: rivetv1.RolloutRolledBack,
					Step: 1, Steps: 4, Reason: "ErrorRate", Message: "30.0% of 100 actions failed (at most 5% allowed)"}
				return p
			}(),
			want: Rollout{Stage: StageFailed, Target: 2, Current: 1, TargetAvailable: 2, TargetReplicas: 2,
				ActorsMoved: 2, ActorsLeft: 38, Draining: []int64{1}, Problem: "ErrorRate: 30.0% of 100 actions failed (at most 5% allowed)"},
		},
		{
			name: "rejected newest",
			pool: pool(1, 1, 3, 2, rejected, pv(3, rivetv1.PhaseCurrent, 1, 1, 1)),
			want: Rollout{Stage: StageFailed, Target: 2, Current: 3, ActorsLeft: 1, Draining: []int64{3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rolloutProgress(tc.pool, tc.target)
			got.Message = "" // checked below, by content
			tc.want.Pool = "web"
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("rolloutProgress =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
	msg := rolloutProgress(pool(1, 1, 2, 2, pv(1, rivetv1.PhaseDraining, 2, 2, 6), pv(2, rivetv1.PhaseCurrent, 2, 2, 4)), nil).line()
	if !strings.Contains(msg, "[##########--------------]  40%") || !strings.Contains(msg, "draining v1: 6 actors left, 4 on v2") {
		t.Fatalf("line = %q", msg)
	}
}

func TestBuildStatus(t *testing.T) {
	t.Parallel()
	engine := rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "eng"}}
	engine.Status = rivetv1.RivetEngineStatus{Replicas: 2, ReadyReplicas: 0, Endpoint: "http://eng-gateway.ns.svc:6420", Conditions: []metav1.Condition{
		{Type: rivetv1.ConditionReady, Status: metav1.ConditionFalse, Reason: "GatewayUnavailable"},
		{Type: rivetv1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: "MigrationFailed", Message: "pod eng-gateway-1: password authentication failed"},
	}}
	p := pool(1, 1, 1, 2, pv(1, rivetv1.PhaseCurrent, 2, 2, 7), pv(2, rivetv1.PhasePending, 1, 0, 0))
	p.Namespace, p.Spec.EngineRef.Name = "ns", "eng"
	av := func(v int64, phase rivetv1.ActorVersionPhase) rivetv1.ActorVersion {
		a := rivetv1.ActorVersion{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-v" + string(rune('0'+v))}}
		a.Spec.PoolRef.Name, a.Spec.Version, a.Spec.Image, a.Status.Phase = "web", v, "img:"+string(rune('0'+v)), phase
		return a
	}
	v2 := av(2, rivetv1.PhasePending)
	v2.Status.Conditions = degradedAV("ImagePullBackOff", "no such image").Status.Conditions
	st := buildStatus([]rivetv1.RivetEngine{engine}, []rivetv1.RunnerPool{*p}, []rivetv1.ActorVersion{av(1, rivetv1.PhasePending), v2})
	if len(st.Engines) != 1 || st.Engines[0].Ready || st.Engines[0].Reason != "GatewayUnavailable" {
		t.Fatalf("engines = %+v", st.Engines)
	}
	if len(st.Versions) != 2 || st.Versions[0].Version != 2 || st.Versions[1].Phase != "Current" || st.Versions[1].Actors != 7 {
		t.Fatalf("versions = %+v (newest first, phase and actors from the pool's plan)", st.Versions)
	}
	want := []string{
		"RivetEngine ns/eng: MigrationFailed: pod eng-gateway-1: password authentication failed",
		"ActorVersion ns/web-v2: ImagePullBackOff: no such image",
	}
	if !reflect.DeepEqual(st.Problems, want) {
		t.Fatalf("problems = %q, want %q", st.Problems, want)
	}
}
