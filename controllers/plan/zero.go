package plan

import "time"

// Scale to zero (see docs/scale-to-zero.md).
//
// A pool in operator mode with MinReplicas 0 and ScaleToZeroAfter > 0 may
// have no runner of its current version at all. The pool is *active* while
// the gateway reports an awake actor in it, and at every demand the
// gateway recorded (a request or due work that found no live runner).
// LastActive is the latest of those moments (kept in the pool's status
// between plans); the pool is *idle* once ScaleToZeroAfter has passed since
// it. Then the current version's floor is 0 and, with no awake actor, its
// replicas go to 0 at once: the idle period is the stabilization, the
// scale-down window does not apply on top of it. Before that the floor is
// one runner. A demand newer than LastActive makes the pool active again,
// so a pool at zero gets one runner back in the same plan (the scale-up
// window does not delay it).
//
// Due schedules and queued messages need no term of their own: while a
// runner exists, due work wakes its actor (an awake actor); while none
// exists, due work records demand.

// ZeroState is the scale-to-zero part of a plan.
type ZeroState struct {
	// LastActive is the last moment the pool was active, to keep for the
	// next plan.
	LastActive time.Time
	// LastDemand is the gateway's last recorded demand (nil: none known).
	LastDemand *time.Time
	// Idle says the pool has been idle for ScaleToZeroAfter: the current
	// version's floor is 0.
	Idle bool
	// ScaledToZero says the current version is planned with 0 replicas
	// because the pool is idle.
	ScaledToZero bool
	// Waking says the previous plan gave the current version 0 replicas
	// and demand brings a runner back now.
	Waking bool
}

// zeroEnabled reports whether the pool may scale to zero.
func zeroEnabled(d Desired) bool {
	return d.Mode == ModeOperator && d.MinReplicas == 0 && d.ScaleToZeroAfter > 0
}

// idleness computes LastActive and the current version's replica floor.
// It returns nil when scale to zero is off (the floor is MinReplicas).
func idleness(d Desired, o Observed) (*ZeroState, int32) {
	if !zeroEnabled(d) {
		return nil, d.MinReplicas
	}
	z := &ZeroState{LastActive: o.Now}
	if o.LastActive != nil && !o.LastActive.After(o.Now) {
		z.LastActive = *o.LastActive
	}
	if g := o.Gateway; g != nil {
		if g.SinceDemand != nil {
			t := o.Now.Add(-max(*g.SinceDemand, 0))
			z.LastDemand = &t
			if t.After(z.LastActive) {
				z.LastActive = t
			}
		}
		if g.Actors > 0 {
			z.LastActive = o.Now
		}
	} else if o.LastActive == nil {
		z.LastActive = o.Now
	}
	if o.Gateway == nil {
		// Without the gateway's view nothing is known: the autoscaler
		// holds the replicas where they are, zero included.
		return z, 0
	}
	z.Idle = !o.Now.Before(z.LastActive.Add(d.ScaleToZeroAfter))
	if z.Idle {
		return z, 0
	}
	return z, 1
}

// settleZero applies the idle decision to the autoscaler's result for the
// current version (whose previous replicas were prevReplicas, -1 when
// unknown) and says when to plan again for it.
func (r *Result) settleZero(d Desired, o Observed, z *ZeroState, prevReplicas int32) {
	if z == nil {
		return
	}
	r.Zero = z
	if z.Idle && o.Gateway != nil && o.Gateway.Actors == 0 {
		r.DesiredReplicas = 0
	}
	z.ScaledToZero = z.Idle && r.DesiredReplicas == 0
	z.Waking = prevReplicas == 0 && r.DesiredReplicas > 0 && z.LastDemand != nil && !z.LastDemand.Before(z.LastActive)
	switch {
	case z.ScaledToZero:
		// At zero, demand is what brings a runner back: look often.
		r.RequeueAfter = minPositive(r.RequeueAfter, d.ActivePoll)
	default:
		// Look again when the pool becomes idle.
		r.RequeueAfter = minPositive(r.RequeueAfter, max(z.LastActive.Add(d.ScaleToZeroAfter).Sub(o.Now), d.ActivePoll))
	}
}
