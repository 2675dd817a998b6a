package plan

import (
	"fmt"
	"slices"
)

// This file joins the rollout strategies (Rollout, rollout.go) to the
// pool's plan (Plan, plan.go). Plan picks the version taking over (the
// newest available one, To); the rollout decides how:
//
//   - From is the pool's stable version: the one new actors went to before
//     To (the From of a ramping or rolled-back rollout, the To of a
//     promoted one, else the previous current version). A rollout exists
//     only when From is older than To and still a live version.
//   - Ramping: From stays Current (it takes the rest of the new actors and
//     keeps its runners), To is Ramping, both are ready in the gateway's
//     routing with the ramp (To, newPercent, movePercent); older versions
//     drain as usual; the autoscaler does not scale down meanwhile.
//   - Promoted: Plan as without a rollout (To current, From draining).
//   - RolledBack: To is no candidate any more; From is current again and
//     To drains (its actors move back at the drain rate), is scaled to
//     zero once drained and deleted after DeleteDrainedAfter like any
//     drained version. A newer version starts a new rollout from From.
//   - A ramping version that is deleted ends its rollout as rolled back
//     (reason VersionRemoved).
//   - Without the gateway's view (unreachable) a rollout does not move:
//     its health and actor counts are unknown.

// PhaseRamping is the phase of the version ramping in (To).
const PhaseRamping Phase = "Ramping"

// Ramp is the split the gateway applies during a rollout.
type Ramp struct {
	Version                 int64
	NewPercent, MovePercent int32
}

// rolledBack is the version the recorded rollout rolled back (0: none).
func rolledBack(o Observed) int64 {
	if o.Rollout != nil && o.Rollout.Phase == RolledBack {
		return o.Rollout.To
	}
	return 0
}

// stableVersion is the version new actors went to before the rollout to
// Plan's current choice (see the file comment).
func stableVersion(o Observed) int64 {
	if o.Rollout != nil {
		if o.Rollout.Phase == Promoted {
			return o.Rollout.To
		}
		return o.Rollout.From
	}
	var v int64
	for _, p := range o.Previous {
		if p.Phase == Current && !p.Rejected {
			v = max(v, p.Version)
		}
	}
	if v == 0 && o.Gateway != nil && len(o.Gateway.Ready) > 0 {
		v = slices.Max(o.Gateway.Ready)
	}
	return v
}

// planRollout runs the rollout step for the version Plan chose (r.Current)
// and records it in r.Rollout. live says a version can still serve (not
// deleting, drained or rejected) and startable that it can start a ramp
// (live and available). It returns the rollout's From and whether a ramp
// is in effect (Ramping, or held while the gateway is unreachable); on a
// rollback r.Rollout says RolledBack and from is the version to return to.
func (r *Result) planRollout(d Desired, o Observed, live, startable func(int64) bool) (from int64, ramp bool) {
	if o.Rollout != nil {
		r.Rollout = &RolloutResult{State: *o.Rollout}
	}
	to := r.Current
	if to == 0 {
		return 0, false
	}
	continuing := o.Rollout != nil && o.Rollout.To == to
	from = stableVersion(o)
	switch {
	case continuing:
		from = o.Rollout.From
		if o.Rollout.Phase == Ramping && from != 0 && !live(from) {
			from = 0 // nothing left to ramp from: promote
		}
	case o.Rollout != nil && o.Rollout.Phase == Ramping && to <= o.Rollout.From:
		// The ramping version is no candidate any more (deleted): the
		// stable version is current again, as after a rollback.
		st := *o.Rollout
		st.Phase, st.Reason, st.Message = RolledBack, "VersionRemoved", fmt.Sprintf("version %d was deleted during its ramp", st.To)
		st.StepStartedAt, st.LastTransition = o.Now, o.Now
		r.Rollout = &RolloutResult{State: st, Changed: true}
		return 0, false
	case from == 0 || from >= to || !startable(from):
		return 0, false // no rollout: the first version, or nothing to take over from
	}
	if o.Gateway == nil {
		// Health and actor counts are unknown: nothing moves.
		switch {
		case continuing && o.Rollout.Phase == Ramping && from != 0:
			return from, true
		case continuing:
			return from, false
		case d.Rollout.Strategy == Progressive || d.Rollout.Strategy == Manual:
			return from, true // the ramp starts once the gateway answers
		}
	}
	obs := RolloutObserved{Now: o.Now, From: from, To: to, Previous: o.Rollout, Health: healthOf(o, to)}
	if o.Gateway != nil {
		obs.ActorsFrom, obs.ActorsTo = o.Gateway.Versions[from].Actors, o.Gateway.Versions[to].Actors
	}
	res := Rollout(d.Rollout, obs)
	r.Rollout = &res
	return res.State.From, res.State.Phase == Ramping && res.State.From != 0
}

// healthOf is what the gateway and the pods say of version v's health.
func healthOf(o Observed, v int64) Health {
	var h Health
	if o.Gateway != nil {
		gv := o.Gateway.Versions[v]
		h.Calls, h.FailedCalls = gv.Calls, gv.FailedCalls
	}
	for _, p := range o.Pods {
		if p.Version == v && p.CrashLooping && !p.Deleting {
			h.CrashLoops++
		}
	}
	return h
}

// rampPhases gives From and To their phases during a ramp: From stays
// Current with the autoscaled replicas, To is Ramping.
func (r *Result) rampPhases(byVersion map[int64]*VersionPlan, from, to int64, replicas int32) {
	if f := byVersion[from]; f != nil {
		f.Phase, f.Replicas, f.DrainStartedAt, f.DrainedAt = Current, replicas, nil, nil
	}
	if t := byVersion[to]; t != nil {
		t.Phase = PhaseRamping
		if r.Rollout != nil {
			t.Message = r.Rollout.Waiting
		}
	}
}

// rampRouting is the gateway routing during a ramp.
func (r *Result) rampRouting(want *Routing, from, to int64) {
	want.Ready = []int64{to, from}
	ramp := &Ramp{Version: to}
	if r.Rollout != nil {
		ramp.NewPercent, ramp.MovePercent = r.Rollout.NewPercent, r.Rollout.MovePercent
	}
	want.Ramp = ramp
}

func sameRamp(a, b *Ramp) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
