package controller

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// addPod plays the kubelet for a runner process: a Pod object of the
// version's Deployment whose IP and runner port are the process's.
func (e *env) addPod(name, pool string, v int64, r *runner) {
	e.t.Helper()
	host, port, _ := net.SplitHostPort(r.addr)
	p, _ := strconv.Atoi(port)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns, Labels: runnerLabels("eng", pool, v)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: RunnerContainer, Image: "example/app",
			Ports: []corev1.ContainerPort{{Name: "runner", ContainerPort: int32(p)}},
		}}},
	}
	if err := k8sClient.Create(e.ctx, pod); err != nil {
		e.t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: host, PodIPs: []corev1.PodIP{{IP: host}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	if err := k8sClient.Status().Update(e.ctx, pod); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) replicas(dep string) int32 {
	d := e.deployment(dep)
	if d == nil {
		return -1
	}
	return ptr.Deref(d.Spec.Replicas, 1)
}

func TestAutoscalingFollowsActorCounts(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.MinReplicas, p.Spec.MaxReplicas = 1, 3
	p.Spec.Autoscaling.TargetActorsPerRunner = 2
	p.Spec.Drain.ActorsPerSecond = 20
	runners := map[string]*runner{}
	runners["app-v1-a"] = e.startV1(p)
	e.addPod("app-v1-a", "app", 1, runners["app-v1-a"])
	if got := e.replicas("app-v1"); got != 1 {
		t.Fatalf("replicas without actors = %d, want minReplicas 1", got)
	}

	// Up: 5 actors at 2 per runner → 3 runners.
	e.actors("app", "up-", 5)
	e.waitFor("scale up to 3", 20*time.Second, func() (bool, string) {
		return e.replicas("app-v1") == 3 && e.pool("app").Status.DesiredReplicas == 3,
			fmt.Sprintf("replicas %d, pool actors %d", e.replicas("app-v1"), e.pool("app").Status.Actors)
	})
	for _, name := range []string{"app-v1-b", "app-v1-c"} {
		runners[name] = e.startRunner("app", 1)
		e.addPod(name, "app", 1, runners[name])
	}
	e.makeAvailable("app-v1")
	e.waitFor("3 live runners", 20*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return st.Version(1).LiveRunners == 3, fmt.Sprint(st.Version(1))
	})
	// New actors go to the least-loaded runners (b and c).
	e.actors("app", "more-", 2)

	// Down: a target of 10 per runner wants 1 runner. Each victim is
	// drained before its pod is marked for removal; play the ReplicaSet by
	// deleting the marked pod and stopping its runner.
	pl := e.pool("app")
	patch := client.MergeFrom(pl.DeepCopy())
	pl.Spec.Autoscaling.TargetActorsPerRunner = 10
	if err := k8sClient.Patch(e.ctx, pl, patch); err != nil {
		t.Fatal(err)
	}
	for want := int32(2); want >= 1; want-- {
		var victim string
		e.waitFor(fmt.Sprintf("scale down to %d", want), 40*time.Second, func() (bool, string) {
			if e.replicas("app-v1") != want {
				return false, fmt.Sprintf("replicas %d, scaleDown %+v, gateway runners %+v", e.replicas("app-v1"), e.pool("app").Status.ScaleDown, e.poolStatus("app").Runners)
			}
			var pods corev1.PodList
			if err := k8sClient.List(e.ctx, &pods, client.InNamespace(e.ns)); err != nil {
				t.Fatal(err)
			}
			for _, p := range pods.Items {
				if p.Annotations[AnnotationPodDeletionCost] != "" {
					victim = p.Name
				}
			}
			return victim != "", "no pod marked for removal"
		})
		st := e.poolStatus("app")
		for _, rn := range st.Runners {
			if rn.Address == runners[victim].addr {
				if !rn.Draining || rn.Actors != 0 {
					t.Fatalf("pod %s marked for removal while its runner is draining=%v with %d actors", victim, rn.Draining, rn.Actors)
				}
			}
		}
		if err := k8sClient.Delete(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: victim}}, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		runners[victim].Stop(20 * time.Second)
		delete(runners, victim)
		e.makeAvailable("app-v1")
	}
	e.waitFor("every actor on the last runner", 30*time.Second, func() (bool, string) {
		st := e.poolStatus("app")
		return st.Actors == 7 && st.Version(1).LiveRunners == 1, fmt.Sprintf("actors %d live runners %d", st.Actors, st.Version(1).LiveRunners)
	})
	// Stays at 1 (min) and does not go below.
	if got := e.pool("app").Status.DesiredReplicas; got != 1 {
		t.Fatalf("desired replicas = %d, want 1", got)
	}
}

func TestExternalModeLeavesReplicasToScale(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.Autoscaling.Mode = rivetv1.AutoscalingExternal
	p.Spec.MinReplicas, p.Spec.MaxReplicas = 1, 10
	p.Spec.Autoscaling.TargetActorsPerRunner = 1
	e.startV1(p)

	// An HPA or KEDA writes /scale; the operator applies it whatever the
	// actor counts say (target 1 per runner with 3 actors would want 3).
	e.actors("app", "ext-", 3)
	scale := func(n int32) {
		t.Helper()
		pl := e.pool("app")
		patch := client.MergeFrom(pl.DeepCopy())
		pl.Spec.Replicas = &n
		if err := k8sClient.SubResource("scale").Patch(e.ctx, pl, patch); err != nil {
			// Older servers: patch the spec itself.
			if err2 := k8sClient.Patch(e.ctx, pl, patch); err2 != nil {
				t.Fatalf("scale: %v / %v", err, err2)
			}
		}
	}
	scale(5)
	e.waitFor("replicas from /scale", 20*time.Second, func() (bool, string) {
		return e.replicas("app-v1") == 5, fmt.Sprint(e.replicas("app-v1"))
	})
	scale(2)
	e.waitFor("replicas from /scale", 20*time.Second, func() (bool, string) {
		return e.replicas("app-v1") == 2, fmt.Sprint(e.replicas("app-v1"))
	})
	e.waitFor("actors counted", 20*time.Second, func() (bool, string) {
		return e.pool("app").Status.Actors == 3, fmt.Sprint(e.pool("app").Status.Actors)
	})
	// Several more passes leave it there, and no runner is marked draining.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if got := e.replicas("app-v1"); got != 2 {
			t.Fatalf("external mode: the operator changed replicas to %d", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, rn := range e.poolStatus("app").Runners {
		if rn.Draining {
			t.Fatalf("external mode drained runner %s", rn.ID)
		}
	}
	// The /scale status reports the current version's pods.
	e.makeAvailable("app-v1")
	e.waitFor("/scale status", 20*time.Second, func() (bool, string) {
		st := e.pool("app").Status
		return st.Replicas == 2 && st.Selector == "app.kubernetes.io/name=rivet-runner,rivetkube.dev/pool=app,rivetkube.dev/version=1",
			fmt.Sprintf("replicas %d selector %q", st.Replicas, st.Selector)
	})
}
