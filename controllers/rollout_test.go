package controller

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// phase reads an ActorVersion's phase ("" when it is gone).
func (e *env) phase(name string) rivetv1.ActorVersionPhase {
	a := e.av(name)
	if a == nil {
		return ""
	}
	return a.Status.Phase
}

// startV1 sets up engine "eng", pool "app" and version 1 with a real runner,
// made available and current.
func (e *env) startV1(p *rivetv1.RunnerPool) *runner {
	e.t.Helper()
	e.create(e.engine("eng"), p, version("app-1", p.Name, 1))
	e.waitFor("deployment app-v1", 20*time.Second, func() (bool, string) { return e.deployment("app-v1") != nil, "absent" })
	r := e.startRunner(p.Name, 1)
	e.makeAvailable("app-v1")
	e.waitFor("version 1 current", 20*time.Second, func() (bool, string) {
		st := e.poolStatus(p.Name)
		return e.phase("app-1") == rivetv1.PhaseCurrent && slices.Equal(st.Ready, []uint64{1}),
			fmt.Sprintf("phase %s, gateway ready %v", e.phase("app-1"), st.Ready)
	})
	return r
}

func TestRolloutSwitchesAndDrains(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.Drain.ActorsPerSecond = 2
	p.Spec.Drain.DeleteDrainedAfter = &metav1.Duration{Duration: 2 * time.Second}
	e.startV1(p)

	// The runner Deployment of version 1.
	d := e.deployment("app-v1")
	if !metav1.IsControlledBy(d, e.av("app-1")) {
		t.Errorf("owner refs = %+v", d.OwnerReferences)
	}
	for k, v := range map[string]string{LabelName: "rivet-runner", LabelInstance: "app", LabelVersion: "1", LabelComponent: "runner", LabelManagedBy: "rivetkube-operator", LabelPool: "app"} {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("pod label %s = %q, want %q", k, d.Spec.Template.Labels[k], v)
		}
	}
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, v := range c.Env {
		env[v.Name] = v
	}
	for k, v := range map[string]string{
		"RIVET_ENDPOINT": "http://eng-gateway." + e.ns + ".svc:6420", "RIVET_POOL": "app", "RIVET_RUNNER_VERSION": "1",
		"RIVET_RUNNER_LISTEN": ":6421", "RIVET_RUNNER_ADDRESS": "$(POD_IP):6421", "RIVETKUBE_SHUTDOWN_TIMEOUT": "60s",
	} {
		if env[k].Value != v {
			t.Errorf("env %s = %q, want %q", k, env[k].Value, v)
		}
	}
	if env["POD_IP"].ValueFrom == nil || env["RIVETKUBE_POSTGRES_URL"].ValueFrom == nil || env["RIVETKUBE_RUNNER_TOKEN"].ValueFrom == nil {
		t.Errorf("downward API or secret env missing: %+v", c.Env)
	}
	if c.Image != "example/app:1" {
		t.Errorf("image = %q", c.Image)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g != 2+60+10 {
		t.Errorf("terminationGracePeriodSeconds = %v, want preStop + drain timeout + margin = 72", g)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds != 2 {
		t.Errorf("preStop = %+v", c.Lifecycle)
	}

	e.actors("app", "roll-", 6)
	e.waitFor("actors counted", 20*time.Second, func() (bool, string) {
		pl := e.pool("app")
		return pl.Status.Actors == 6 && e.av("app-1").Status.Actors == 6, fmt.Sprintf("pool %d", pl.Status.Actors)
	})

	// Version 2: a Deployment at once, but no routing until available.
	e.create(version("app-2", "app", 2))
	e.waitFor("deployment app-v2", 20*time.Second, func() (bool, string) {
		return e.deployment("app-v2") != nil && e.phase("app-2") == rivetv1.PhasePending, string(e.phase("app-2"))
	})
	if st := e.poolStatus("app"); !slices.Equal(st.Ready, []uint64{1}) || len(st.Draining) != 0 {
		t.Fatalf("routing changed before version 2 was available: ready %v draining %v", st.Ready, st.Draining)
	}
	if e.phase("app-1") != rivetv1.PhaseCurrent {
		t.Fatalf("version 1 is %s before version 2 is available", e.phase("app-1"))
	}

	e.startRunner("app", 2)
	e.makeAvailable("app-v2")
	e.waitFor("routing switched", 20*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return slices.Equal(st.Ready, []uint64{2}) && slices.Equal(st.Draining, []uint64{1}), fmt.Sprintf("ready %v draining %v", st.Ready, st.Draining)
	})

	// Version 1 drains (actors move at 2/s), is scaled to zero, then deleted.
	seen := map[rivetv1.ActorVersionPhase]bool{}
	sawActorsDraining := false
	e.waitFor("version 1 drained", 60*time.Second, func() (bool, string) {
		a := e.av("app-1")
		if a == nil {
			return false, "gone before drained was seen"
		}
		seen[a.Status.Phase] = true
		if a.Status.Phase == rivetv1.PhaseDraining && a.Status.Actors > 0 && meta.IsStatusConditionTrue(a.Status.Conditions, rivetv1.ConditionDraining) {
			sawActorsDraining = true
		}
		d := e.deployment("app-v1")
		return a.Status.Phase == rivetv1.PhaseDrained && d != nil && *d.Spec.Replicas == 0, fmt.Sprintf("phase %s actors %d", a.Status.Phase, a.Status.Actors)
	})
	if !sawActorsDraining {
		t.Errorf("never saw version 1 Draining with actors left in its status (phases seen %v)", seen)
	}
	e.waitFor("version 1 deleted", 30*time.Second, func() (bool, string) {
		return e.av("app-1") == nil && e.deployment("app-v1") == nil, "still there"
	})
	e.waitFor("version 2 current with every actor", 20*time.Second, func() (bool, string) {
		a := e.av("app-2")
		st := e.poolStatus("app")
		return a.Status.Phase == rivetv1.PhaseCurrent && st.Version(2).Actors == 6 && e.pool("app").Status.CurrentVersion == 2 && len(st.Draining) == 0,
			fmt.Sprintf("phase %s actors on v2 %d, draining %v", a.Status.Phase, st.Version(2).Actors, st.Draining)
	})

	// A version lower than the pool's latest is rejected and gets nothing.
	e.create(version("app-old", "app", 1))
	e.waitFor("old version rejected", 20*time.Second, func() (bool, string) {
		a := e.av("app-old")
		c := meta.FindStatusCondition(a.Status.Conditions, rivetv1.ConditionDegraded)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == "VersionNotIncreasing", condString(a.Status.Conditions)
	})
	if e.deployment("app-v1") != nil {
		t.Fatal("a rejected version got a Deployment")
	}
	if err := k8sClient.Delete(e.ctx, e.av("app-old")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("rejected version released", 20*time.Second, func() (bool, string) { return e.av("app-old") == nil, "still there" })

	e.assertIdempotent()
}

func TestDeletingActorVersionDrainsItFirst(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.Drain.ActorsPerSecond = 1
	e.startV1(p)
	e.actors("app", "del-", 4)
	e.waitFor("actors counted", 20*time.Second, func() (bool, string) {
		return e.av("app-1").Status.Actors == 4, fmt.Sprint(e.av("app-1").Status.Actors)
	})
	e.create(version("app-2", "app", 2))
	e.waitFor("deployment app-v2", 20*time.Second, func() (bool, string) { return e.deployment("app-v2") != nil, "absent" })
	e.startRunner("app", 2)
	e.makeAvailable("app-v2")
	e.waitFor("version 1 draining", 20*time.Second, func() (bool, string) {
		return e.phase("app-1") == rivetv1.PhaseDraining, string(e.phase("app-1"))
	})

	// Delete version 1 while it still hosts actors: it stays until drained.
	if err := k8sClient.Delete(e.ctx, e.av("app-1")); err != nil {
		t.Fatal(err)
	}
	a := e.av("app-1")
	if a == nil || a.DeletionTimestamp.IsZero() || !slices.Contains(a.Finalizers, FinalizerDrain) {
		t.Fatalf("version 1 went without draining: %+v", a)
	}
	if st := e.poolStatus("app"); st.Version(1).Actors == 0 {
		t.Fatalf("version 1 already had no actors; the scenario cannot show the drain")
	}
	if e.deployment("app-v1") == nil {
		t.Fatal("version 1's Deployment was deleted before its actors moved")
	}
	e.waitFor("version 1 released after the drain", 60*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		gone := e.av("app-1") == nil && e.deployment("app-v1") == nil
		if gone && st.Version(2).Actors != 4 {
			return false, fmt.Sprintf("released with %d actors on version 2", st.Version(2).Actors)
		}
		return gone, fmt.Sprintf("actors on v1 %d, v2 %d", st.Version(1).Actors, st.Version(2).Actors)
	})

	// Without its engine nothing can drain a version: deleting it does not
	// hang on the finalizer.
	if err := k8sClient.Delete(e.ctx, e.getEngine("eng")); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Delete(e.ctx, e.av("app-2")); err != nil {
		t.Fatal(err)
	}
	e.waitFor("version 2 released without an engine", 20*time.Second, func() (bool, string) {
		return e.av("app-2") == nil && e.deployment("app-v2") == nil, "still there"
	})
}
