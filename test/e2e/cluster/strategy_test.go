package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rivetv1 "github.com/rivetkube/rivetkube/api/v1alpha1"
	rvclient "github.com/rivetkube/rivetkube/client"
)

// Rollout strategies on the cluster: the pool switches to a Progressive
// strategy; version 3 (the version-1 image under a new version number)
// ramps in step by step under a client loop and is promoted with no failed
// call; version 4 is a bad build (the version-2 image with an action
// timeout of 1 ms, so about half its actions answer
// actor/action_timed_out) and its gate rolls it back: every actor returns
// to version 3 and nothing acknowledged is lost.

// strategyVersion is ActorVersion v of the pool with the image of version
// imageOf (1 or 2) and extra environment.
func (s *suite) strategyVersion(v, imageOf int, env ...corev1.EnvVar) *rivetv1.ActorVersion {
	av := s.newVersion(imageOf)
	av.Name, av.Spec.Version = versionName(v), int64(v)
	av.Spec.Env = append(av.Spec.Env, env...)
	return av
}

// setProgressive switches the pool to one Progressive step of 50% new and
// 50% existing actors held for pause, and the autoscaler back to its quiet
// target (the autoscale scenario lowered it).
func (s *suite) setProgressive(t *testing.T, ctx context.Context, pause time.Duration) {
	p, err := s.getPool(ctx)
	if err != nil {
		s.fatalf(t, "%v", err)
	}
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Autoscaling.TargetActorsPerRunner = initialTarget
	p.Spec.Rollout = rivetv1.RolloutSpec{
		Strategy: rivetv1.RolloutProgressive,
		Steps:    []rivetv1.RolloutStep{{NewActorShare: 50, MoveShare: 50, Pause: &metav1.Duration{Duration: pause}}},
		Gate:     rivetv1.RolloutGate{MaxErrorPercent: ptr.To[int32](5), MinCalls: 20},
	}
	if err := s.k.Patch(ctx, p, patch); err != nil {
		s.fatalf(t, "patch the pool's rollout strategy: %v", err)
	}
}

// rolloutStatus reads the pool's rollout status (zero when none).
func (s *suite) rolloutStatus(ctx context.Context) (rivetv1.RolloutStatus, error) {
	p, err := s.getPool(ctx)
	if err != nil || p.Status.Rollout == nil {
		return rivetv1.RolloutStatus{}, err
	}
	return *p.Status.Rollout, nil
}

// progressive: version 3 ramps in (50%/50%, held 10 s) and is promoted;
// not one client call fails and every counter holds exactly its
// acknowledged count.
func (s *suite) progressive(t *testing.T) {
	ctx := ctxFor(t, 10*time.Minute)
	s.setProgressive(t, ctx, 10*time.Second)
	l := s.startLoad(t, "progressive", 6, 25)
	defer l.stop()
	s.waitProgress(t, l, 10, "the client loop to run", time.Minute)
	if err := s.k.Create(ctx, s.strategyVersion(3, 1)); err != nil {
		s.fatalf(t, "create ActorVersion 3: %v", err)
	}
	sawRamp := false
	s.eventually(t, "version 3 ramping, then promoted and current", 6*time.Minute, func(ctx context.Context) (bool, string, error) {
		ro, err := s.rolloutStatus(ctx)
		if err != nil {
			return false, "", err
		}
		st, err := s.admin.PoolStatus(ctx, poolName)
		if err != nil {
			return false, "", err
		}
		if ro.ToVersion == 3 && ro.Phase == rivetv1.RolloutRamping && st.Ramp != nil && st.Ramp.Version == 3 {
			sawRamp = true
		}
		ok, serving, err := s.versionServing(ctx, 3, minRunners)
		return ok && ro.ToVersion == 3 && ro.Phase == rivetv1.RolloutPromoted,
			fmt.Sprintf("rollout %s step %d/%d (%d%%/%d%%), actors v2 %d v3 %d; %s; %s", ro.Phase, ro.Step, ro.Steps, ro.NewActorShare, ro.MoveShare,
				st.Versions["2"].Actors, st.Versions["3"].Actors, serving, l.summary()), err
	})
	if !sawRamp {
		s.failf(t, "version 3 was promoted without a ramp being seen in the pool's status and the gateway's routing")
	}
	s.eventually(t, "version 2 drained", 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		av, err := s.getVersion(ctx, 2)
		if err != nil {
			return false, "", err
		}
		st, err := s.admin.PoolStatus(ctx, poolName)
		if err != nil {
			return false, "", err
		}
		return av.Status.Phase == rivetv1.PhaseDrained && st.Versions["2"].Actors == 0, fmt.Sprintf("v2 %s, %d actors", av.Status.Phase, st.Versions["2"].Actors), nil
	})
	s.waitProgress(t, l, 5, "the client loop to go on after the promotion", time.Minute)
	l.stop()
	t.Logf("progressive roll under load: %s", l.summary())
	var failed int64
	for _, w := range l.writers {
		failed += w.failures.Load() + w.gaps.Load()
	}
	if failed > 0 || l.freshErr.Load() > 0 {
		s.fatalf(t, "client calls failed during the progressive roll: %s", l.summary())
	}
	c := s.goClient(t, rvclient.EncodingCBOR)
	for _, w := range l.writers {
		n, err := rvclient.Call[int64](ctx, c.GetOrCreate("counter", []string{w.key}), "getCount")
		if err != nil || n != w.acked.Load() {
			s.fatalf(t, "counter %s = %d, %v after the roll; want %d", w.key, n, err, w.acked.Load())
		}
	}
}

// rollbackBadVersion: version 4 fails its actions; the gate rolls it back,
// every actor returns to version 3, version 4 is drained and scaled to
// zero, calls succeed again, and every acknowledged count is still there.
func (s *suite) rollbackBadVersion(t *testing.T) {
	ctx := ctxFor(t, 10*time.Minute)
	s.setProgressive(t, ctx, 5*time.Minute) // the gate, not the pause, ends this ramp
	l := s.startLoad(t, "badversion", 6, 10)
	defer l.stop()
	s.waitProgress(t, l, 10, "the client loop to run", time.Minute)
	bad := s.strategyVersion(4, 2, corev1.EnvVar{Name: "RIVETKUBE_ACTION_TIMEOUT", Value: "1ms"})
	if err := s.k.Create(ctx, bad); err != nil {
		s.fatalf(t, "create ActorVersion 4: %v", err)
	}
	s.eventually(t, "version 4 rolled back by its gate", 6*time.Minute, func(ctx context.Context) (bool, string, error) {
		ro, err := s.rolloutStatus(ctx)
		if err != nil {
			return false, "", err
		}
		return ro.ToVersion == 4 && ro.Phase == rivetv1.RolloutRolledBack,
			fmt.Sprintf("rollout v%d %s step %d, v4 calls %d failed %d; %s", ro.ToVersion, ro.Phase, ro.Step, ro.Calls, ro.FailedCalls, l.summary()), nil
	})
	p, err := s.getPool(ctx)
	if err != nil {
		s.fatalf(t, "%v", err)
	}
	if p.Status.Rollout.Reason != "ErrorRate" || !conditionTrue(p.Status.Conditions, rivetv1.ConditionRolledBack) {
		s.failf(t, "after the rollback: reason %q, RolledBack condition %s", p.Status.Rollout.Reason, condition(p.Status.Conditions, rivetv1.ConditionRolledBack))
	}
	s.eventually(t, "every actor back on version 3, version 4 drained to zero pods", 4*time.Minute, func(ctx context.Context) (bool, string, error) {
		st, err := s.admin.PoolStatus(ctx, poolName)
		if err != nil {
			return false, "", err
		}
		av, err := s.getVersion(ctx, 4)
		if err != nil {
			return false, "", err
		}
		pods, err := s.runnerPods(ctx, 4, true)
		if err != nil {
			return false, "", err
		}
		ok, serving, err := s.versionServing(ctx, 3, minRunners)
		return ok && fmt.Sprint(st.Ready) == "[3]" && st.Versions["4"].Actors == 0 && av.Status.Phase == rivetv1.PhaseDrained && len(pods) == 0,
			fmt.Sprintf("gateway ready %v draining %v, v4 actors %d, v4 %s with %d pods; %s", st.Ready, st.Draining, st.Versions["4"].Actors, av.Status.Phase, len(pods), serving), err
	})
	// Every actor is on version 3 again: calls succeed.
	var before int64
	for _, w := range l.writers {
		before += w.failures.Load()
	}
	s.waitProgress(t, l, 10, "the client loop after the rollback", time.Minute)
	var after int64
	for _, w := range l.writers {
		after += w.failures.Load()
	}
	l.stop()
	t.Logf("bad version rolled back under load: %s", l.summary())
	if after != before {
		s.failf(t, "%d calls failed after every actor was back on version 3: %s", after-before, l.summary())
	}
	c := s.goClient(t, rvclient.EncodingJSON)
	for _, w := range l.writers {
		n, err := rvclient.Call[int64](ctx, c.GetOrCreate("counter", []string{w.key}), "getCount")
		if err != nil {
			s.fatalf(t, "counter %s: %v", w.key, err)
		}
		// Every acknowledged increment is there; a timed-out one may or may not be.
		if n < w.acked.Load() || n > w.attempts.Load() {
			s.fatalf(t, "counter %s = %d: want between the last acknowledged value %d and the %d attempts", w.key, n, w.acked.Load(), w.attempts.Load())
		}
	}
}
