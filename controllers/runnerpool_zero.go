package controller

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/controllers/plan"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// Scale to zero, the operator's part (plan/zero.go decides; see
// docs/scale-to-zero.md): the pool's idle tracking lives in
// status.scaleToZero, the engine's demand comes from the admin status
// (sinceDemandMs), and the Ready condition says ScaledToZero while the
// current version has no runner because the pool is idle, and
// ScalingUpFromZero until the runner that demand asked for is available.

// Ready reasons of a pool that scales to zero.
const (
	ReasonScaledToZero      = "ScaledToZero"
	ReasonScalingUpFromZero = "ScalingUpFromZero"
)

// scaleToZeroAfter is the pool's idle period; 0 when it cannot scale to
// zero (minReplicas above 0, or external mode).
func scaleToZeroAfter(pool *rivetv1.RunnerPool) time.Duration {
	as := pool.Spec.Autoscaling
	if pool.Spec.MinReplicas > 0 || orDefault(as.Mode, rivetv1.AutoscalingOperator) != rivetv1.AutoscalingOperator {
		return 0
	}
	return dur(as.ScaleToZeroAfter, 5*time.Minute)
}

// lastActive is the planner's memory of the pool's last activity.
func lastActive(pool *rivetv1.RunnerPool) *time.Time {
	if z := pool.Status.ScaleToZero; z != nil {
		t := z.LastActiveTime.Time
		return &t
	}
	return nil
}

// sinceDemand converts the admin status's demand age.
func sinceDemand(st admin.PoolStatus) *time.Duration {
	if st.SinceDemandMs == nil {
		return nil
	}
	d := time.Duration(*st.SinceDemandMs) * time.Millisecond
	return &d
}

// recordZero writes the scale-to-zero state into the pool's status, sets
// the Ready condition of a pool at (or coming back from) zero, and emits
// the scale-up event. It runs after recordPlan set Ready from the current
// version's Deployment.
func (r *RunnerPoolReconciler) recordZero(pool *rivetv1.RunnerPool, o plan.Observed, p plan.Result) {
	z := p.Zero
	if z == nil {
		pool.Status.ScaleToZero = nil
		return
	}
	st := &rivetv1.ScaleToZeroStatus{LastActiveTime: metav1.NewTime(z.LastActive), ScaledToZero: z.ScaledToZero}
	if z.LastDemand != nil {
		// Whole seconds: the demand's age is read at every poll, and a
		// status that moves by milliseconds each time would be rewritten
		// each time.
		t := metav1.NewTime(z.LastDemand.Round(time.Second))
		st.LastDemandTime = &t
	}
	if old := pool.Status.ScaleToZero; old != nil && old.LastDemandTime != nil && st.LastDemandTime != nil &&
		st.LastDemandTime.Sub(old.LastDemandTime.Time).Abs() <= time.Second {
		st.LastDemandTime = old.LastDemandTime
	}
	// An active pool is active again at every poll: write the moment only
	// when it moved by a tenth of the idle period (at most a minute), so
	// the status is not rewritten every poll. The idle decision may then
	// come that much early, never late.
	if old := pool.Status.ScaleToZero; old != nil && !st.LastActiveTime.Before(&old.LastActiveTime) &&
		st.LastActiveTime.Sub(old.LastActiveTime.Time) < min(scaleToZeroAfter(pool)/10, time.Minute) {
		st.LastActiveTime = old.LastActiveTime
	}
	available := int32(0)
	if dep, ok := o.Deployments[p.Current]; ok {
		available = dep.Available
	}
	// Coming back: at zero before, and no runner available yet.
	wasZero := pool.Status.ScaleToZero != nil && pool.Status.ScaleToZero.ScaledToZero && available == 0
	st.ScaledToZero = st.ScaledToZero || (wasZero && p.Current != 0)
	pool.Status.ScaleToZero = st

	switch {
	case p.Current == 0 || available > 0:
		// recordPlan's condition stands.
	case z.ScaledToZero:
		setCondition(pool, rivetv1.ConditionReady, true, ReasonScaledToZero,
			fmt.Sprintf("version %d has no runner: the pool was idle for %s; the next request brings one back", p.Current, durationOr(pool.Spec.Autoscaling.ScaleToZeroAfter, "5m")))
	case z.Waking || wasZero:
		setCondition(pool, rivetv1.ConditionReady, true, ReasonScalingUpFromZero,
			fmt.Sprintf("version %d scales up from zero on demand; requests wait in the gateway for its runner", p.Current))
	}
	if z.Waking {
		ago := "just now"
		if z.LastDemand != nil {
			ago = o.Now.Sub(*z.LastDemand).Round(time.Second).String() + " ago"
		}
		r.Recorder.Eventf(pool, nil, "Normal", "ScaleUpOnDemand", "Scale", "version %d scales up from zero: a request or due work found no runner (%s)", p.Current, ago)
	}
}
