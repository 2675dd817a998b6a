package plan

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Phase is where a version is in its rollout (same values as the API's
// ActorVersionPhase).
type Phase string

// Phases of a version.
const (
	Pending  Phase = "Pending"
	Ready    Phase = "Ready"
	Current  Phase = "Current"
	Draining Phase = "Draining"
	Drained  Phase = "Drained"
)

// Mode says who sets the current version's replicas.
type Mode string

// Autoscaling modes.
const (
	ModeOperator Mode = "operator"
	ModeExternal Mode = "external"
)

// Desired is what the RunnerPool and its ActorVersions ask for.
type Desired struct {
	Mode Mode
	// ExternalReplicas is spec.replicas (external mode); nil means unset.
	ExternalReplicas *int32
	MinReplicas      int32
	MaxReplicas      int32
	// TargetActorsPerRunner is the autoscaling target (>= 1).
	TargetActorsPerRunner int32
	ScaleUpWindow         time.Duration
	ScaleDownWindow       time.Duration
	// ScaleToZeroAfter is the idle period after which a pool with
	// MinReplicas 0 has no runner (operator mode; 0 disables; zero.go).
	ScaleToZeroAfter time.Duration
	// DrainRate is in actors per second.
	DrainRate float64
	// DrainTimeout bounds one scale-down victim's drain.
	DrainTimeout       time.Duration
	DeleteDrainedAfter time.Duration
	// ActivePoll is how soon to look again while something moves;
	// IdlePoll in steady state (actor counts change without events).
	ActivePoll, IdlePoll time.Duration
	// Versions are the pool's ActorVersion objects.
	Versions []Version
	// Rollout is how a new version takes over (ramp.go).
	Rollout RolloutSpec
}

// Version is one ActorVersion object.
type Version struct {
	Name    string
	Version int64
	// Created orders versions with the same number (first wins).
	Created time.Time
	// Deleting is true once the object has a deletion timestamp.
	Deleting bool
}

// Observed is the state of the world the plan starts from.
type Observed struct {
	Now time.Time
	// LatestVersion is the highest version the pool accepted before.
	LatestVersion int64
	// Previous is the last plan, as recorded in the pool's status.
	Previous []VersionState
	// Deployments by version.
	Deployments map[int64]Deployment
	// Pods of the pool's runners.
	Pods []Pod
	// Gateway is the gateway's view of the pool; nil when unreachable.
	Gateway *Gateway
	// ScaleDown is the autoscaler's victim in progress.
	ScaleDown *ScaleDown
	// Recommendations is the autoscaler's history (operator mode).
	Recommendations []Recommendation
	// Rollout is the recorded state of the latest rollout; nil when none.
	Rollout *RolloutState
	// LastActive is the pool's last active moment as the previous plan
	// recorded it (nil: none yet; zero.go).
	LastActive *time.Time
}

// VersionState is the recorded plan of one version.
type VersionState struct {
	Name           string
	Version        int64
	Phase          Phase
	Rejected       bool
	Replicas       int32
	DrainStartedAt *time.Time
	DrainedAt      *time.Time
}

// Deployment is what matters of a version's Deployment.
type Deployment struct {
	// Replicas is spec.replicas.
	Replicas int32
	// Available is status.availableReplicas.
	Available int32
	// Pods is status.replicas (pods that exist, ready or not).
	Pods int32
	// Updated is true when the Deployment controller observed the latest
	// spec and every replica runs it.
	Updated bool
}

// Pod is a runner pod.
type Pod struct {
	Name    string
	Version int64
	// Address is the runner's address on the pod (pod IP and runner port),
	// as the runner registers it.
	Address  string
	Ready    bool
	Deleting bool
	// MarkedForRemoval: the pod already carries the lowest deletion cost
	// (a released victim the ReplicaSet is about to remove).
	MarkedForRemoval bool
	// CrashLooping: a container of the pod is in CrashLoopBackOff.
	CrashLooping bool
}

// Gateway is the gateway's view of a pool.
type Gateway struct {
	Ready     []int64
	Draining  []int64
	DrainRate float64
	Ramp      *Ramp
	Actors    int
	Runners   []Runner
	// Versions aggregates runners per version.
	Versions map[int64]GatewayVersion
	// SinceDemand is how long ago a request or due work last found no
	// live runner in the pool (nil: never).
	SinceDemand *time.Duration
}

// Runner is a runner registered with the gateway.
type Runner struct {
	ID       string
	Version  int64
	Address  string
	Alive    bool
	Draining bool
	Actors   int
}

// GatewayVersion aggregates the runners of one version, and the actions
// the answering gateway routed to it and saw fail.
type GatewayVersion struct {
	Runners, LiveRunners, Actors int
	Calls, FailedCalls           int64
}

// ScaleDown is a runner being drained before its pod is removed.
type ScaleDown struct {
	Version   int64
	Pod       string
	RunnerID  string
	StartedAt time.Time
}

// Recommendation is one raw autoscaling recommendation.
type Recommendation struct {
	At       time.Time
	Replicas int32
}

// Routing is the gateway routing of a pool.
type Routing struct {
	Ready     []int64
	Draining  []int64
	DrainRate float64
	// Ramp splits new and existing actors during a rollout (ramp.go).
	Ramp *Ramp
}

// VersionPlan is the plan of one version.
type VersionPlan struct {
	Name     string
	Version  int64
	Phase    Phase
	Rejected bool
	// Message explains a rejection or why a version waits.
	Message string
	// Replicas the version's Deployment should have.
	Replicas       int32
	Runners        int32
	Actors         int32
	DrainStartedAt *time.Time
	DrainedAt      *time.Time
	// Delete asks for the ActorVersion object to be deleted (drained long
	// enough).
	Delete bool
	// Finalize allows a deleting ActorVersion to go.
	Finalize bool
}

// Result is the plan.
type Result struct {
	// Versions, newest first.
	Versions []VersionPlan
	// Current is the version receiving new actors (0: none).
	Current       int64
	LatestVersion int64
	// Routing to send to the gateway; nil when it already has it (or is
	// unreachable).
	Routing *Routing
	// DesiredReplicas is the autoscaler's target for the current version.
	DesiredReplicas int32
	// Recommendations to keep for the next plan.
	Recommendations []Recommendation
	// ScaleDown is the victim in progress after this plan.
	ScaleDown *ScaleDown
	// MarkDraining is a runner to mark draining now; UnmarkDraining one to
	// clear (a cancelled scale-down).
	MarkDraining, UnmarkDraining string
	// RemovePod is the pod the ReplicaSet should remove first (give it the
	// lowest deletion cost before lowering replicas).
	RemovePod string
	// RequeueAfter is when to plan again.
	RequeueAfter time.Duration
	// Progressing says something is moving (rollout, drain, scale).
	Progressing bool
	// Waiting explains what the rollout waits for (empty when settled).
	Waiting string
	// Rollout is the latest rollout's step (nil: none yet): its state to
	// record, and whether it changed.
	Rollout *RolloutResult
	// Zero is the scale-to-zero state (nil when the pool cannot scale to
	// zero).
	Zero *ZeroState
}

// Plan computes the next step of a pool's rollout.
func Plan(d Desired, o Observed) Result {
	r := Result{LatestVersion: o.LatestVersion}
	prev := map[int64]VersionState{}
	for _, p := range o.Previous {
		prev[p.Version] = p
	}

	// Acceptance, oldest first; duplicates: the first created wins.
	versions := slices.Clone(d.Versions)
	slices.SortFunc(versions, func(a, b Version) int {
		return cmp.Or(cmp.Compare(a.Version, b.Version), a.Created.Compare(b.Created), cmp.Compare(a.Name, b.Name))
	})
	plans := make([]VersionPlan, 0, len(versions))
	accepted := map[int64]bool{}
	for _, v := range versions {
		vp := VersionPlan{Name: v.Name, Version: v.Version, Phase: Pending}
		p, known := prev[v.Version]
		switch {
		case known && p.Name == v.Name && !p.Rejected:
			accepted[v.Version] = true
		case known && p.Name == v.Name && p.Rejected:
			vp.Rejected = true
		case accepted[v.Version] || (known && p.Name != v.Name):
			vp.Rejected = true
		case v.Version <= r.LatestVersion:
			vp.Rejected = true
		default:
			accepted[v.Version] = true
			r.LatestVersion = v.Version
		}
		if vp.Rejected {
			vp.Message = fmt.Sprintf("version %d is not higher than the pool's latest version %d; create a new ActorVersion with a higher version", v.Version, max(r.LatestVersion, v.Version))
			vp.Finalize = v.Deleting
		}
		plans = append(plans, vp)
	}
	byVersion := map[int64]*VersionPlan{}
	objects := map[int64]Version{}
	for i := range plans {
		if !plans[i].Rejected {
			byVersion[plans[i].Version] = &plans[i]
		}
	}
	for i, v := range versions {
		if !plans[i].Rejected {
			objects[v.Version] = v
		}
	}

	// The previous target: the version the last plan (or the gateway)
	// routes new actors to.
	prevCurrent := int64(0)
	for _, p := range o.Previous {
		if (p.Phase == Current || p.Phase == Ready) && !p.Rejected && accepted[p.Version] {
			prevCurrent = max(prevCurrent, p.Version)
		}
	}
	if o.Gateway != nil && len(o.Gateway.Ready) > 0 && accepted[slices.Max(o.Gateway.Ready)] {
		prevCurrent = max(prevCurrent, slices.Max(o.Gateway.Ready))
	}
	zero, floor := idleness(d, o)
	dz := d
	dz.MinReplicas = floor
	desiredReplicas, recs := autoscale(dz, o, prevCurrent)
	r.DesiredReplicas, r.Recommendations = desiredReplicas, recs
	r.settleZero(d, o, zero, previousReplicas(o, prevCurrent))
	desiredReplicas = r.DesiredReplicas

	// The current version is the newest available candidate; it only moves
	// forward unless the previous one is being deleted.
	available := func(v int64) bool {
		dep, ok := o.Deployments[v]
		return ok && dep.Updated && dep.Available >= 1 && dep.Available >= dep.Replicas
	}
	rb := rolledBack(o)
	candidate := func(v Version) bool {
		p, ok := prev[v.Version]
		return accepted[v.Version] && objects[v.Version].Name == v.Name && !v.Deleting && !(ok && p.Phase == Drained) && v.Version != rb
	}
	for _, v := range slices.Backward(versions) {
		if candidate(v) && v.Version >= prevCurrent && available(v.Version) {
			r.Current = v.Version
			break
		}
	}
	if r.Current == 0 && prevCurrent != 0 {
		if i := slices.IndexFunc(versions, func(v Version) bool { return v.Version == prevCurrent && candidate(v) }); i >= 0 {
			r.Current = prevCurrent // keep routing to it while a newer one is not available
		}
	}
	if r.Current == 0 {
		for _, v := range slices.Backward(versions) {
			if candidate(v) && available(v.Version) {
				r.Current = v.Version // the previous one is gone: fall back
				break
			}
		}
	}

	// The rollout strategy (ramp.go): a ramp keeps From current beside To;
	// a rollback makes From current again and To drain.
	live := func(v int64) bool { _, ok := objects[v]; return ok && candidate(objects[v]) }
	from, ramp := r.planRollout(d, o, live, func(v int64) bool { return live(v) && available(v) })
	rampTo := r.Current
	if r.Rollout != nil && r.Rollout.State.Phase == RolledBack && r.Rollout.State.To == r.Current && from != 0 {
		rb, r.Current = r.Current, from
	}

	// Phases.
	gwDraining := map[int64]bool{}
	gwReady := int64(0)
	if o.Gateway != nil {
		for _, v := range o.Gateway.Draining {
			gwDraining[v] = true
		}
		if len(o.Gateway.Ready) > 0 {
			gwReady = slices.Max(o.Gateway.Ready)
		}
	}
	now := o.Now
	var waiting []string
	for _, v := range versions {
		vp := byVersion[v.Version]
		if vp == nil || objects[v.Version].Name != v.Name {
			continue
		}
		p := prev[v.Version]
		vp.DrainStartedAt, vp.DrainedAt = p.DrainStartedAt, p.DrainedAt
		if o.Gateway != nil {
			gv := o.Gateway.Versions[v.Version]
			vp.Runners, vp.Actors = int32(gv.Runners), int32(gv.Actors)
		}
		dep, hasDep := o.Deployments[v.Version]
		switch {
		case p.Phase == Drained:
			vp.Phase = Drained
		case v.Version == r.Current:
			if gwReady == v.Version || (o.Gateway == nil && p.Phase == Current) {
				vp.Phase = Current
			} else {
				vp.Phase = Ready
				waiting = append(waiting, fmt.Sprintf("gateway to route new actors to version %d", v.Version))
			}
			vp.Replicas = desiredReplicas
		case v.Version > r.Current && !v.Deleting && v.Version != rb:
			vp.Phase = Pending
			vp.Replicas = max(desiredReplicas, 1)
			if p.Replicas > vp.Replicas && r.Current == 0 {
				vp.Replicas = p.Replicas
			}
			switch {
			case !hasDep:
				waiting = append(waiting, fmt.Sprintf("Deployment of version %d to be created", v.Version))
			default:
				waiting = append(waiting, fmt.Sprintf("version %d to be available (%d/%d)", v.Version, dep.Available, vp.Replicas))
			}
		default:
			// Older than current, or deleting: drain.
			vp.Phase = Draining
			vp.Replicas = p.Replicas
			if hasDep && dep.Replicas > vp.Replicas {
				vp.Replicas = dep.Replicas
			}
			if vp.DrainStartedAt == nil {
				t := now
				vp.DrainStartedAt = &t
			}
			switch {
			case r.Current == 0:
				// Nothing can take its actors: they go to sleep with their
				// runners (SIGTERM commits their state).
				vp.Phase = Drained
			case o.Gateway != nil && gwDraining[v.Version] && o.Gateway.Versions[v.Version].Actors == 0:
				vp.Phase = Drained
			default:
				waiting = append(waiting, fmt.Sprintf("version %d to drain (%d actors left)", v.Version, vp.Actors))
			}
		}
		if vp.Phase == Drained {
			vp.Replicas = 0
			if vp.DrainedAt == nil {
				t := now
				vp.DrainedAt = &t
			}
			if v.Deleting {
				vp.Finalize = true
			} else if !now.Before(vp.DrainedAt.Add(d.DeleteDrainedAfter)) {
				vp.Delete = true
			} else {
				r.RequeueAfter = minPositive(r.RequeueAfter, vp.DrainedAt.Add(d.DeleteDrainedAfter).Sub(now))
			}
		}
	}

	if ramp {
		r.rampPhases(byVersion, from, rampTo, desiredReplicas)
	}

	// Routing.
	want := Routing{Ready: []int64{}, Draining: []int64{}, DrainRate: d.DrainRate}
	if r.Current != 0 {
		want.Ready = []int64{r.Current}
	}
	if ramp {
		r.rampRouting(&want, from, rampTo)
	}
	for _, vp := range plans {
		if vp.Rejected || vp.Version == r.Current || vp.Version > r.Current && vp.Phase == Pending {
			continue
		}
		if vp.Phase == Draining || vp.Phase == Drained {
			want.Draining = append(want.Draining, vp.Version)
		}
	}
	if o.Gateway != nil && !sameRouting(want, Routing{Ready: o.Gateway.Ready, Draining: o.Gateway.Draining, DrainRate: o.Gateway.DrainRate, Ramp: o.Gateway.Ramp}) {
		r.Routing = &want
	}

	// Autoscaler's victim (operator mode, current version only).
	r.scaleDown(d, o, byVersion[r.Current])

	slices.SortFunc(plans, func(a, b VersionPlan) int { return cmp.Compare(b.Version, a.Version) })
	r.Versions = plans
	r.Progressing = len(waiting) > 0 || r.Routing != nil || r.ScaleDown != nil
	if cur, ok := o.Deployments[r.Current]; ok && r.Current != 0 && (cur.Available != r.DesiredReplicas || !cur.Updated) {
		r.Progressing = true
		waiting = append(waiting, fmt.Sprintf("version %d to have %d available runners (%d now)", r.Current, r.DesiredReplicas, cur.Available))
	}
	if ramp {
		// The stable version is the pool's current one until promotion.
		r.Current, r.Progressing = from, true
		if r.Rollout != nil && r.Rollout.Waiting != "" {
			waiting = append([]string{r.Rollout.Waiting}, waiting...)
		}
	}
	if len(waiting) > 0 {
		r.Waiting = waiting[0]
	}
	if r.Rollout != nil {
		r.RequeueAfter = minPositive(r.RequeueAfter, r.Rollout.RequeueAfter)
	}
	if r.Progressing {
		r.RequeueAfter = minPositive(r.RequeueAfter, d.ActivePoll)
	} else {
		r.RequeueAfter = minPositive(r.RequeueAfter, d.IdlePoll)
	}
	return r
}

// previousReplicas is what the last plan gave version v (-1: nothing).
func previousReplicas(o Observed, v int64) int32 {
	for _, p := range o.Previous {
		if p.Version == v && !p.Rejected {
			return p.Replicas
		}
	}
	return -1
}

// autoscale returns the current version's desired replicas and the
// recommendation history to keep.
func autoscale(d Desired, o Observed, current int64) (int32, []Recommendation) {
	have := int32(-1)
	for _, p := range o.Previous {
		if p.Version == current && !p.Rejected {
			have = p.Replicas
		}
	}
	if dep, ok := o.Deployments[current]; ok && have < 0 {
		have = dep.Replicas
	}
	if d.Mode == ModeExternal {
		switch {
		case d.ExternalReplicas != nil:
			return *d.ExternalReplicas, nil
		case have >= 0:
			return have, nil
		default:
			return d.MinReplicas, nil
		}
	}
	if o.Gateway == nil {
		// No actor counts: hold.
		if have < 0 {
			have = d.MinReplicas
		}
		return clamp(have, d.MinReplicas, d.MaxReplicas), o.Recommendations
	}
	target := max(d.TargetActorsPerRunner, 1)
	raw := clamp(int32(min(math.Ceil(float64(o.Gateway.Actors)/float64(target)), math.MaxInt32)), d.MinReplicas, d.MaxReplicas)
	keep := max(d.ScaleUpWindow, d.ScaleDownWindow)
	recs := []Recommendation{}
	for _, rec := range o.Recommendations {
		if o.Now.Sub(rec.At) < keep {
			recs = append(recs, rec)
		}
	}
	recs = append(recs, Recommendation{At: o.Now, Replicas: raw})
	if have < 0 {
		return raw, recs
	}
	// Scale up to the lowest recommendation of the up window, down to the
	// highest of the down window (as the HorizontalPodAutoscaler does).
	upTo, downTo := raw, raw
	for _, rec := range recs {
		if o.Now.Sub(rec.At) < d.ScaleUpWindow {
			upTo = min(upTo, rec.Replicas)
		}
		if o.Now.Sub(rec.At) < d.ScaleDownWindow {
			downTo = max(downTo, rec.Replicas)
		}
	}
	next := have
	switch {
	case raw > have:
		next = max(have, upTo)
	case raw < have:
		next = min(have, downTo)
	}
	return clamp(next, d.MinReplicas, d.MaxReplicas), recs
}

// scaleDown picks, drains and releases the autoscaler's victims: when the
// current version should shrink, the emptiest live runner is marked
// draining; once it has no actors (or DrainTimeout passed) its pod gets the
// lowest deletion cost and the replicas drop by one. One victim at a time.
func (r *Result) scaleDown(d Desired, o Observed, cur *VersionPlan) {
	sd := o.ScaleDown
	if sd != nil && (cur == nil || sd.Version != cur.Version) {
		sd = nil // the victim's version is not current: it drains anyway
	}
	if d.Mode != ModeOperator || cur == nil || cur.Phase != Current || o.Gateway == nil {
		if sd != nil && d.Mode != ModeOperator {
			r.UnmarkDraining = sd.RunnerID
			sd = nil
		}
		r.ScaleDown = sd
		return
	}
	dep, ok := o.Deployments[cur.Version]
	if !ok {
		r.ScaleDown = sd
		return
	}
	// What the last plan gave the version is the truth; the Deployment may
	// not have caught up yet.
	have := dep.Replicas
	for _, p := range o.Previous {
		if p.Version == cur.Version && !p.Rejected && p.Phase != Pending {
			have = p.Replicas
		}
	}
	// Candidates: pods that are neither going away nor released already.
	var pods []Pod
	for _, p := range o.Pods {
		if p.Version == cur.Version && !p.Deleting && !p.MarkedForRemoval {
			pods = append(pods, p)
		}
	}
	runners := map[string]Runner{}
	for _, rn := range o.Gateway.Runners {
		if rn.Version == cur.Version && rn.Alive {
			runners[rn.Address] = rn
		}
	}
	if cur.Replicas >= have {
		// No scale-down: release a cancelled victim, or a runner left
		// draining by a victim whose record was lost.
		switch {
		case sd != nil:
			r.UnmarkDraining = sd.RunnerID
		default:
			for _, p := range pods {
				if rn, ok := runners[p.Address]; ok && rn.Draining {
					r.UnmarkDraining = rn.ID
					break
				}
			}
		}
		return
	}
	cur.Replicas = have // hold until a runner is released
	if sd != nil {
		i := slices.IndexFunc(pods, func(p Pod) bool { return p.Name == sd.Pod })
		rn, registered := Runner{}, false
		for _, x := range o.Gateway.Runners {
			if x.ID == sd.RunnerID {
				rn, registered = x, true
			}
		}
		switch {
		case i < 0:
			cur.Replicas = have - 1 // the pod went away on its own
		case !registered || rn.Actors == 0 || !o.Now.Before(sd.StartedAt.Add(d.DrainTimeout)):
			r.RemovePod = sd.Pod
			cur.Replicas = have - 1
		default:
			r.ScaleDown = sd
		}
		return
	}
	if int32(len(pods)) < have {
		cur.Replicas = have - 1 // a replica without a pod goes first
		return
	}
	// A pod without a live runner goes first (not ready ones before ready).
	slices.SortStableFunc(pods, func(a, b Pod) int {
		if a.Ready != b.Ready {
			if a.Ready {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	var victim *Pod
	var best Runner
	for i, p := range pods {
		rn, ok := runners[p.Address]
		if !ok {
			r.RemovePod = p.Name
			cur.Replicas = have - 1
			return
		}
		// A runner already draining (a victim whose record was lost) goes
		// first; then the emptiest.
		better := victim == nil || (rn.Draining && !best.Draining) ||
			(rn.Draining == best.Draining && rn.Actors < best.Actors)
		if better {
			victim, best = &pods[i], rn
		}
	}
	if victim == nil {
		return
	}
	if !best.Draining {
		r.MarkDraining = best.ID
	}
	if best.Actors == 0 {
		r.RemovePod = victim.Name
		cur.Replicas = have - 1
		return
	}
	r.ScaleDown = &ScaleDown{Version: cur.Version, Pod: victim.Name, RunnerID: best.ID, StartedAt: o.Now}
}

func sameRouting(a, b Routing) bool {
	return sameSet(a.Ready, b.Ready) && sameSet(a.Draining, b.Draining) && a.DrainRate == b.DrainRate && sameRamp(a.Ramp, b.Ramp)
}

func sameSet(a, b []int64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func clamp(v, lo, hi int32) int32 {
	return max(lo, min(v, hi))
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	default:
		return min(a, b)
	}
}
