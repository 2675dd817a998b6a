package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	rivetclient "github.com/rivetkube/rivetkube/client"
)

// awaitNormalEvent waits for a Normal event with reason about the named
// object.
func (e *env) awaitNormalEvent(regarding, reason string) {
	e.t.Helper()
	e.waitFor("event "+reason, 20*time.Second, func() (bool, string) {
		var evs eventsv1.EventList
		if err := k8sClient.List(e.ctx, &evs, client.InNamespace(e.ns)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			if ev.Regarding.Name == regarding && ev.Reason == reason && ev.Type == corev1.EventTypeNormal {
				return true, ""
			}
			seen = append(seen, ev.Regarding.Name+"/"+ev.Reason)
		}
		return false, strings.Join(seen, ", ")
	})
}

func readyReason(p *rivetv1.RunnerPool) string {
	if c := meta.FindStatusCondition(p.Status.Conditions, rivetv1.ConditionReady); c != nil {
		return string(c.Status) + "/" + c.Reason
	}
	return "none"
}

// A pool with minReplicas 0 goes to zero after its idle period (its last
// runner drained and its pod removed first), says so in its Ready
// condition and an event, and comes back when a request for one of its
// actors waits in the gateway: the engine records the demand, the
// operator scales the version up, and the held request is answered by the
// runner that joins.
func TestScaleToZeroAndBackOnDemand(t *testing.T) {
	e := newEnv(t)
	p := pool("app", "eng")
	p.Spec.MinReplicas, p.Spec.MaxReplicas = 0, 3
	p.Spec.Autoscaling.ScaleToZeroAfter = &metav1.Duration{Duration: 3 * time.Second}
	r1 := e.startV1(p)
	e.addPod("app-v1-a", "app", 1, r1)
	if got := e.replicas("app-v1"); got != 1 {
		t.Fatalf("replicas before the idle period = %d, want 1 (one runner until idle)", got)
	}
	// An awake actor keeps the pool active.
	e.actors("app", "before-", 1)
	e.waitFor("idle tracking", 20*time.Second, func() (bool, string) {
		pl := e.pool("app")
		return pl.Status.ScaleToZero != nil && pl.Status.Actors == 1, fmt.Sprintf("%+v", pl.Status.ScaleToZero)
	})
	time.Sleep(4 * time.Second) // longer than the idle period: still one runner
	if got := e.replicas("app-v1"); got != 1 {
		t.Fatalf("replicas with an awake actor = %d, want 1", got)
	}

	// The fixture's actors sleep after 10 minutes: put the actor to sleep
	// by restarting its runner (a graceful stop commits its state), on a
	// new pod. Then the pool is idle: its runner is drained, its pod marked
	// for removal, and the replicas drop to 0.
	r1.Stop(20 * time.Second)
	r1 = e.startRunner("app", 1)
	if err := k8sClient.Delete(e.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: "app-v1-a"}}, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	e.addPod("app-v1-b", "app", 1, r1)
	e.waitFor("scaled to zero", 30*time.Second, func() (bool, string) {
		pl := e.pool("app")
		return e.replicas("app-v1") == 0 && pl.Status.DesiredReplicas == 0,
			fmt.Sprintf("replicas %d desired %d actors %d ready %s zero %+v", e.replicas("app-v1"), pl.Status.DesiredReplicas, pl.Status.Actors, readyReason(pl), pl.Status.ScaleToZero)
	})
	pod := &corev1.Pod{}
	if err := k8sClient.Get(e.ctx, e.key("app-v1-b"), pod); err != nil {
		t.Fatal(err)
	}
	if pod.Annotations[AnnotationPodDeletionCost] == "" {
		t.Fatal("the last runner's pod was not marked for removal before replicas dropped to 0")
	}
	// Play the ReplicaSet: the pod goes, its runner stops.
	if err := k8sClient.Delete(e.ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	r1.Stop(20 * time.Second)
	e.makeAvailable("app-v1")
	e.waitFor("Ready ScaledToZero", 20*time.Second, func() (bool, string) {
		pl := e.pool("app")
		z := pl.Status.ScaleToZero
		return readyReason(pl) == "True/"+ReasonScaledToZero && z != nil && z.ScaledToZero, readyReason(pl)
	})
	e.awaitNormalEvent("app", ReasonScaledToZero)
	// It stays at zero while nothing asks (several polls).
	time.Sleep(2 * time.Second)
	if got := e.replicas("app-v1"); got != 0 {
		t.Fatalf("replicas %d at zero without demand", got)
	}

	// A request arrives: held by the gateway, demand recorded, scaled up.
	cl, err := rivetclient.New(rivetclient.Config{Endpoint: e.gateway, Encoding: rivetclient.EncodingJSON, PoolName: "app"})
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		n   int64
		err error
	}
	done := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(e.ctx, 50*time.Second)
		defer cancel()
		n, err := rivetclient.Call[int64](ctx, cl.GetOrCreate("counter", []string{"before-0"}), "increment", 1)
		done <- answer{n, err}
	}()
	e.waitFor("scale up on demand", 30*time.Second, func() (bool, string) {
		pl := e.pool("app")
		return e.replicas("app-v1") == 1, fmt.Sprintf("replicas %d ready %s zero %+v", e.replicas("app-v1"), readyReason(pl), pl.Status.ScaleToZero)
	})
	e.awaitNormalEvent("app", "ScaleUpOnDemand")
	if pl := e.pool("app"); readyReason(pl) != "True/"+ReasonScalingUpFromZero || pl.Status.ScaleToZero.LastDemandTime == nil {
		t.Fatalf("while scaling up: ready %s, scaleToZero %+v", readyReason(pl), pl.Status.ScaleToZero)
	}
	select {
	case a := <-done:
		t.Fatalf("request answered before any runner joined: %d, %v", a.n, a.err)
	default:
	}
	// Play the kubelet: the runner starts, the Deployment is available.
	r2 := e.startRunner("app", 1)
	e.addPod("app-v1-c", "app", 1, r2)
	e.makeAvailable("app-v1")
	select {
	case a := <-done:
		if a.err != nil || a.n != 2 {
			t.Fatalf("held request: %d, %v; want 2 (the actor's state survived the zero)", a.n, a.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("held request not answered after the runner joined")
	}
	e.waitFor("Ready again", 20*time.Second, func() (bool, string) {
		pl := e.pool("app")
		return readyReason(pl) == "True/CurrentAvailable" && !pl.Status.ScaleToZero.ScaledToZero, readyReason(pl)
	})
}

// spec.limits.coldStartTimeout reaches the gateway as
// RIVETKUBE_COLD_START_TIMEOUT when it is not the default (so engines
// that keep the default did not roll their gateways when it appeared).
func TestGatewayConfigMapColdStartTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   *metav1.Duration
		want    string
		present bool
	}{
		{name: "unset"},
		{name: "default", value: &metav1.Duration{Duration: time.Minute}},
		{name: "shorter", value: &metav1.Duration{Duration: 20 * time.Second}, want: "20s", present: true},
		{name: "longer", value: &metav1.Duration{Duration: 3 * time.Minute}, want: "3m0s", present: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &rivetv1.RivetEngine{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}}
			e.Spec.Limits.ColdStartTimeout = tt.value
			got, ok := gatewayConfigMap(e).Data["RIVETKUBE_COLD_START_TIMEOUT"]
			if ok != tt.present || got != tt.want {
				t.Errorf("RIVETKUBE_COLD_START_TIMEOUT = %q (present %v), want %q (present %v)", got, ok, tt.want, tt.present)
			}
		})
	}
}
