package controller

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	"github.com/rivetkube/rivetkube/controllers/plan"
	"github.com/rivetkube/rivetkube/internal/admin"
)

// The rollout strategy of a pool (spec.rollout) as the planner sees it,
// and its result written back: status.rollout, the RolledBack and
// Progressing conditions, and one event per rollout transition. The
// planner (plan.Plan, plan/ramp.go) decides; this file converts.
// The recorded status.rollout is the planner's memory between passes, like
// status.versions.

// rolloutSpec converts spec.rollout for the planner.
func rolloutSpec(s rivetv1.RolloutSpec) plan.RolloutSpec {
	out := plan.RolloutSpec{
		Strategy: plan.Strategy(orDefault(s.Strategy, rivetv1.RolloutAllAtOnce)),
		Gate: plan.Gate{
			MaxErrorPercent: float64(ptr.Deref(s.Gate.MaxErrorPercent, 5)), MinCalls: int64(orDefault(s.Gate.MinCalls, 20)),
			MaxActivationFailures: -1, // not reported by the engine: they answer actor/internal_error and count as failed actions
			MaxCrashLoops:         int64(s.Gate.MaxCrashLoops),
		},
	}
	for _, st := range s.Steps {
		out.Steps = append(out.Steps, plan.RampStep{NewPercent: st.NewActorShare, MovePercent: st.MoveShare, Pause: dur(st.Pause, time.Minute)})
	}
	if s.Promote != nil {
		out.ManualVersion, out.ManualStep = s.Promote.Version, s.Promote.Step
	}
	return out
}

// rolloutState reads the recorded rollout back for the planner.
func rolloutState(s *rivetv1.RolloutStatus) *plan.RolloutState {
	if s == nil {
		return nil
	}
	st := &plan.RolloutState{
		From: s.FromVersion, To: s.ToVersion, Phase: plan.RolloutPhase(s.Phase), Step: max(s.Step-1, 0),
		Reason: s.Reason,
	}
	if s.Phase == rivetv1.RolloutRolledBack {
		st.Message = s.Message
	}
	if s.StepStartedAt != nil {
		st.StepStartedAt = s.StepStartedAt.Time
	}
	if s.LastTransitionTime != nil {
		st.LastTransition = s.LastTransitionTime.Time
	}
	return st
}

// crashLooping reports whether a container of pod is in CrashLoopBackOff.
func crashLooping(pod *corev1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			return true
		}
	}
	return false
}

// adminRamp converts the planner's ramp for the admin API.
func adminRamp(r *plan.Ramp) *admin.Ramp {
	if r == nil {
		return nil
	}
	return &admin.Ramp{Version: uint64(r.Version), NewPercent: r.NewPercent, MovePercent: r.MovePercent}
}

// planRamp converts the admin API's ramp for the planner.
func planRamp(r *admin.Ramp) *plan.Ramp {
	if r == nil {
		return nil
	}
	return &plan.Ramp{Version: int64(r.Version), NewPercent: r.NewPercent, MovePercent: r.MovePercent}
}

// recordRollout writes the rollout's step into the pool's status, sets the
// RolledBack and Progressing conditions and emits an event when the
// rollout changed step or phase.
func (r *RunnerPoolReconciler) recordRollout(pool *rivetv1.RunnerPool, d plan.Desired, o plan.Observed, p plan.Result) {
	ro := p.Rollout
	if ro == nil {
		pool.Status.Rollout = nil
		meta.RemoveStatusCondition(&pool.Status.Conditions, rivetv1.ConditionRolledBack)
		return
	}
	st := ro.State
	steps := int32(len(d.Rollout.Steps))
	strategy := rivetv1.RolloutStrategy(d.Rollout.Strategy)
	if prev := pool.Status.Rollout; prev != nil && !ro.Changed && prev.ToVersion == st.To {
		strategy = prev.Strategy // the strategy the rollout started with
	}
	s := &rivetv1.RolloutStatus{
		Strategy: strategy, FromVersion: st.From, ToVersion: st.To, Phase: rivetv1.RolloutPhase(st.Phase),
		Step: st.Step + 1, Steps: steps, Reason: st.Reason,
		StepStartedAt: metaTimeOrNil(st.StepStartedAt), LastTransitionTime: metaTimeOrNil(st.LastTransition),
	}
	switch st.Phase {
	case plan.Promoted:
		s.NewActorShare, s.MoveShare = 100, 100
	case plan.Ramping:
		s.NewActorShare, s.MoveShare = ro.NewPercent, ro.MovePercent
		if !ro.Changed && ro.NewPercent == 0 && ro.MovePercent == 0 && pool.Status.Rollout != nil {
			// Held without the gateway's view: keep what was applied.
			s.NewActorShare, s.MoveShare = pool.Status.Rollout.NewActorShare, pool.Status.Rollout.MoveShare
		}
	}
	s.Message = truncate(orDefault(st.Message, ro.Waiting), 1024)
	if prev := pool.Status.Rollout; prev != nil {
		s.FromActors, s.ToActors = prev.FromActors, prev.ToActors
		s.Calls, s.FailedCalls, s.CrashLoops = prev.Calls, prev.FailedCalls, prev.CrashLoops
	}
	if o.Gateway != nil {
		s.FromActors = int32(min(o.Gateway.Versions[st.From].Actors, 1<<31-1))
		s.ToActors = int32(min(o.Gateway.Versions[st.To].Actors, 1<<31-1))
		gv := o.Gateway.Versions[st.To]
		s.Calls, s.FailedCalls = gv.Calls, gv.FailedCalls
	}
	var loops int32
	for _, pod := range o.Pods {
		if pod.Version == st.To && pod.CrashLooping && !pod.Deleting {
			loops++
		}
	}
	s.CrashLoops = loops
	pool.Status.Rollout = s

	switch st.Phase {
	case plan.RolledBack:
		setCondition(pool, rivetv1.ConditionRolledBack, true, st.Reason,
			fmt.Sprintf("version %d rolled back to version %d: %s", st.To, st.From, st.Message))
	case plan.Ramping:
		setCondition(pool, rivetv1.ConditionRolledBack, false, "Ramping", fmt.Sprintf("version %d is ramping", st.To))
		setCondition(pool, rivetv1.ConditionProgressing, true, "Ramping", orDefault(p.Waiting, ro.Waiting))
	case plan.Promoted:
		setCondition(pool, rivetv1.ConditionRolledBack, false, "Promoted", fmt.Sprintf("version %d was promoted", st.To))
	}
	if !ro.Changed {
		return
	}
	switch st.Phase {
	case plan.Ramping:
		r.Recorder.Eventf(pool, nil, "Normal", "RolloutStep", "Rollout", "version %d: step %d of %d: %d%% of new actors, %d%% of actors (from version %d)",
			st.To, st.Step+1, steps, ro.NewPercent, ro.MovePercent, st.From)
	case plan.Promoted:
		if st.From != 0 {
			r.Recorder.Eventf(pool, nil, "Normal", "RolloutPromoted", "Rollout", "version %d promoted (%s): every new actor goes to it and version %d drains",
				st.To, strategy, st.From)
		}
	case plan.RolledBack:
		r.Recorder.Eventf(pool, nil, "Warning", "RolledBack", "Rollout", "version %d rolled back to version %d: %s: %s", st.To, st.From, st.Reason, st.Message)
	}
}

func metaTimeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	v := metav1.NewTime(t)
	return &v
}
