package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	rvclient "github.com/rivetkube/rivetkube/client"
)

// scaleToZero: the pool (minReplicas lowered to 0, a short idle period)
// loses its last runner pod once no actor is awake and says ScaledToZero;
// a request for an actor created before then waits in the gateway while
// the operator scales the version up, and is answered by the new pod with
// the actor's state intact. The cold start (request → answer, pod start
// included) is logged as a figure for docs/scale-to-zero.md.
func (s *suite) scaleToZero(t *testing.T) {
	ctx := ctxFor(t, 15*time.Minute)
	c := s.goClient(t, rvclient.EncodingJSON)
	key := uniq("zero")
	n, err := rvclient.Call[int64](ctx, c.GetOrCreate("counter", []string{key}), "increment", 1)
	if err != nil {
		s.fatalf(t, "increment before scaling to zero: %v", err)
	}
	p, err := s.getPool(ctx)
	if err != nil {
		s.fatalf(t, "%v", err)
	}
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.MinReplicas = 0
	p.Spec.Autoscaling.ScaleToZeroAfter = &metav1.Duration{Duration: 20 * time.Second}
	if err := s.k.Patch(ctx, p, patch); err != nil {
		s.fatalf(t, "patch minReplicas 0: %v", err)
	}
	t.Log("minReplicas 0, scaleToZeroAfter 20s; the actors sleep after their idle timeout")
	s.eventually(t, "the pool to scale to zero", 6*time.Minute, func(ctx context.Context) (bool, string, error) {
		ok, status, err := s.poolAt(ctx, 0)
		if err != nil || !ok {
			return false, status, err
		}
		p, err := s.getPool(ctx)
		if err != nil {
			return false, status, err
		}
		c := meta.FindStatusCondition(p.Status.Conditions, rivetv1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionTrue && c.Reason == "ScaledToZero", fmt.Sprintf("%s; Ready %+v", status, c), nil
	})

	start := time.Now()
	got, err := rvclient.Call[int64](ctxFor(t, 3*time.Minute), c.GetOrCreate("counter", []string{key}), "increment", 1)
	coldStart := time.Since(start)
	if err != nil {
		s.fatalf(t, "increment at zero: %v (after %s)", err, coldStart.Round(time.Millisecond))
	}
	if got != n+1 {
		s.failf(t, "increment at zero returned %d, want %d (state lost across the zero)", got, n+1)
	}
	t.Logf("cold start: request → answer %s, runner pod start included", coldStart.Round(time.Millisecond))
	s.eventually(t, "one runner back", 3*time.Minute, func(ctx context.Context) (bool, string, error) {
		return s.poolAt(ctx, 1)
	})
	// A warm request for comparison.
	start = time.Now()
	if _, err := rvclient.Call[int64](ctx, c.GetOrCreate("counter", []string{key}), "increment", 1); err != nil {
		s.failf(t, "warm increment: %v", err)
	}
	t.Logf("warm request after the cold start: %s", time.Since(start).Round(time.Millisecond))
}
