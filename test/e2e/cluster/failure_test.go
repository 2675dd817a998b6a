package cluster

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
)

// The operator's failure feedback on a real kubelet: a runner image that
// cannot be pulled and a RivetEngine whose PostgreSQL URL names a database
// that does not exist. Each scenario makes its own objects beside the
// suite's engine and pool (which they do not touch) and deletes them
// again, so the scenarios after them see the cluster as before.

// feedbackBound is what the operator promises: the pod-level reason is in
// the owner's Degraded condition, with an event, within 30 s of the kubelet
// reporting it.
const feedbackBound = 30 * time.Second

// unpullableImage names a registry on the node's loopback port 1: the pull
// is refused at once, on kind's node container as on the host-process
// cluster (whose containerd resolves other registries by DNS and fails
// too, but only as fast as the host's resolver answers). The pull policy
// is IfNotPresent whatever RIVETKUBE_E2E_PULL_POLICY says: with Never the
// kubelet reports ErrImageNeverPull instead of trying.
const unpullableImage = "127.0.0.1:1/rivetkube/no-such-runner:e2e"

const (
	badImagePool = "badimage"
	badPGEngine  = "badpg"
	// badPGDatabase does not exist in the suite's PostgreSQL.
	badPGDatabase = "rivetkube_e2e_missing"
)

var imagePullReasons = []string{"ErrImagePull", "ImagePullBackOff"}

// badImage: an ActorVersion (in a pool of its own) whose image cannot be
// pulled. Its Degraded condition and a Warning event name ErrImagePull or
// ImagePullBackOff within feedbackBound of the pod first showing it.
func (s *suite) badImage(t *testing.T) {
	ctx := ctxFor(t, 5*time.Minute)
	pool := &rivetv1.RunnerPool{
		ObjectMeta: metav1.ObjectMeta{Name: badImagePool, Namespace: ns},
		Spec: rivetv1.RunnerPoolSpec{
			EngineRef:   rivetv1.LocalRef{Name: engineName},
			MinReplicas: 1,
			MaxReplicas: 1,
			Template:    &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "runner", Resources: smallRequests}}}},
		},
	}
	av := &rivetv1.ActorVersion{
		ObjectMeta: metav1.ObjectMeta{Name: badImagePool + "-1", Namespace: ns},
		Spec: rivetv1.ActorVersionSpec{
			PoolRef:         rivetv1.LocalRef{Name: badImagePool},
			Version:         1,
			Image:           unpullableImage,
			ImagePullPolicy: corev1.PullIfNotPresent,
		},
	}
	t.Cleanup(func() { s.deleteAndWait(t, "the bad-image pool and version", pool, av) })
	for _, o := range []client.Object{pool, av} {
		if err := s.k.Create(ctx, o); err != nil {
			s.fatalf(t, "create %T %s: %v", o, o.GetName(), err)
		}
	}
	sel := client.MatchingLabels{"rivetkube.dev/pool": badImagePool}
	s.awaitFeedback(t, feedbackCase{
		what: "ActorVersion " + av.Name,
		podFailed: func(p *corev1.Pod) bool {
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && slices.Contains(imagePullReasons, w.Reason) {
					return true
				}
			}
			return false
		},
		selector: sel,
		conditions: func(ctx context.Context) ([]metav1.Condition, error) {
			got := &rivetv1.ActorVersion{}
			err := s.k.Get(ctx, client.ObjectKeyFromObject(av), got)
			return got.Status.Conditions, err
		},
		reasons:  imagePullReasons,
		message:  unpullableImage,
		eventFor: av.Name,
	})
}

// badPostgres: a RivetEngine whose PostgreSQL URL names a missing
// database. The gateway's migration init container fails, and the
// engine's Degraded condition (reason MigrationFailed) and a Warning event
// carry PostgreSQL's own words within feedbackBound of the pod first
// showing the failure.
func (s *suite) badPostgres(t *testing.T) {
	ctx := ctxFor(t, 5*time.Minute)
	good := &corev1.Secret{}
	if err := s.k.Get(ctx, objKey(ns, "rivet-postgres"), good); err != nil {
		s.fatalf(t, "read the engine's PostgreSQL Secret: %v", err)
	}
	u, err := url.Parse(string(good.Data["value"]))
	if err != nil {
		s.fatalf(t, "the engine's PostgreSQL URL: %v", err)
	}
	u.Path = "/" + badPGDatabase
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: badPGEngine + "-postgres", Namespace: ns}, StringData: map[string]string{"value": u.String()}}
	engine := &rivetv1.RivetEngine{
		ObjectMeta: metav1.ObjectMeta{Name: badPGEngine, Namespace: ns},
		Spec: rivetv1.RivetEngineSpec{
			Postgres:            rivetv1.PostgresSpec{URLSecretRef: rivetv1.SecretKeyRef{Name: secret.Name, Key: "value"}, MaxConns: 2},
			AdminTokenSecretRef: rivetv1.SecretKeyRef{Name: "rivet-admin", Key: "value"},
			Gateway: rivetv1.GatewaySpec{
				Image:           s.cfg.gatewayImage,
				ImagePullPolicy: s.cfg.pullPolicy,
				Replicas:        ptr.To(int32(1)),
				Resources:       smallRequests,
			},
		},
	}
	t.Cleanup(func() { s.deleteAndWait(t, "the bad-PostgreSQL engine", engine, secret) })
	for _, o := range []client.Object{secret, engine} {
		if err := s.k.Create(ctx, o); err != nil {
			s.fatalf(t, "create %T %s: %v", o, o.GetName(), err)
		}
	}
	s.awaitFeedback(t, feedbackCase{
		what: "RivetEngine " + badPGEngine,
		podFailed: func(p *corev1.Pod) bool {
			for _, cs := range p.Status.InitContainerStatuses {
				for _, term := range []*corev1.ContainerStateTerminated{cs.State.Terminated, cs.LastTerminationState.Terminated} {
					if cs.Name == "migrate" && term != nil && term.ExitCode != 0 {
						return true
					}
				}
			}
			return false
		},
		selector: client.MatchingLabels{"rivetkube.dev/engine": badPGEngine, "app.kubernetes.io/component": "gateway"},
		conditions: func(ctx context.Context) ([]metav1.Condition, error) {
			got := &rivetv1.RivetEngine{}
			err := s.k.Get(ctx, client.ObjectKeyFromObject(engine), got)
			return got.Status.Conditions, err
		},
		reasons: []string{"MigrationFailed"},
		// PostgreSQL's own error, as the migration printed it last.
		message:  fmt.Sprintf("database %q does not exist", badPGDatabase),
		eventFor: badPGEngine,
	})
}

// feedbackCase is one owner whose pods fail.
type feedbackCase struct {
	what       string
	selector   client.MatchingLabels
	podFailed  func(*corev1.Pod) bool
	conditions func(context.Context) ([]metav1.Condition, error)
	reasons    []string // Degraded's reason is one of them
	message    string   // Degraded's message contains it
	eventFor   string   // a Warning event regarding this object has one of reasons
}

// awaitFeedback waits (up to two minutes) for a pod to show the failure,
// then up to feedbackBound for the owner's Degraded condition and event.
func (s *suite) awaitFeedback(t *testing.T, fc feedbackCase) {
	t.Helper()
	var failedAt time.Time
	s.eventually(t, "a pod of "+fc.what+" to fail", 2*time.Minute, func(ctx context.Context) (bool, string, error) {
		var pods corev1.PodList
		if err := s.k.List(ctx, &pods, client.InNamespace(ns), fc.selector); err != nil {
			return false, "", err
		}
		for i := range pods.Items {
			if fc.podFailed(&pods.Items[i]) {
				failedAt = time.Now()
				return true, "", nil
			}
		}
		return false, s.podSummary(ctx, ns, labelSelector(fc.selector)), nil
	})
	var condAt, eventAt time.Time
	var degraded string
	s.eventually(t, fc.what+" Degraded with the pod's reason and a Warning event", feedbackBound, func(ctx context.Context) (bool, string, error) {
		conds, err := fc.conditions(ctx)
		if err != nil {
			return false, "", err
		}
		c := meta.FindStatusCondition(conds, rivetv1.ConditionDegraded)
		if condAt.IsZero() && c != nil && c.Status == metav1.ConditionTrue && slices.Contains(fc.reasons, c.Reason) && strings.Contains(c.Message, fc.message) {
			condAt, degraded = time.Now(), c.Reason+": "+c.Message
		}
		seen, err := s.warningReasons(ctx, fc.eventFor)
		if err != nil {
			return false, "", err
		}
		for _, r := range seen {
			if eventAt.IsZero() && slices.Contains(fc.reasons, r) {
				eventAt = time.Now()
			}
		}
		status := fmt.Sprintf("%s; Warning events of %s: %v", condition(conds, rivetv1.ConditionDegraded), fc.eventFor, seen)
		return !condAt.IsZero() && !eventAt.IsZero(), status, nil
	})
	t.Logf("%s: Degraded %s after %v, event after %v (of the pod first showing the failure)",
		fc.what, degraded, condAt.Sub(failedAt).Round(100*time.Millisecond), eventAt.Sub(failedAt).Round(100*time.Millisecond))
}

// warningReasons lists the reasons of Warning events (events.k8s.io/v1,
// the API the operator records with) regarding the named object in ns.
func (s *suite) warningReasons(ctx context.Context, regarding string) ([]string, error) {
	var evs eventsv1.EventList
	if err := s.k.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []string
	for _, ev := range evs.Items {
		if ev.Regarding.Name == regarding && ev.Type == corev1.EventTypeWarning {
			out = append(out, ev.Reason)
		}
	}
	return out, nil
}

// deleteAndWait deletes objs (in order, foreground: an owner goes only
// after its Deployments and pods) and waits up to two minutes for them to
// be gone; a failure fails t, since the scenarios after this one expect
// only the suite's own objects.
func (s *suite) deleteAndWait(t *testing.T, what string, objs ...client.Object) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, o := range objs {
		if err := s.k.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil && !apierrors.IsNotFound(err) {
			s.failf(t, "delete %T %s: %v", o, o.GetName(), err)
		}
	}
	start := time.Now()
	for _, o := range objs {
		for {
			g, err := s.gone(ctx, o)
			if g {
				break
			}
			if ctx.Err() != nil {
				s.fatalf(t, "%s: %T %s still there after 2m (%v)", what, o, o.GetName(), err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	t.Logf("deleted %s in %v", what, time.Since(start).Round(100*time.Millisecond))
}

func labelSelector(m client.MatchingLabels) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
