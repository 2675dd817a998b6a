package router

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/rivetkube/rivetkube/internal/admin"
	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/store"
)

// PoolStatus is what the admin API reports for a pool; the operator reads
// it into RunnerPool and ActorVersion status. The wire types belong to the
// admin client package, so the server and its client cannot drift apart.
type (
	PoolStatus    = admin.PoolStatus
	RunnerStatus  = admin.Runner
	VersionStatus = admin.VersionStatus
)

// PoolStatus reads a pool's routing and runners.
func (rt *Router) PoolStatus(ctx context.Context, pool string) (PoolStatus, error) {
	pc, err := rt.cfg.Store.GetPoolConfig(ctx, pool)
	if err != nil {
		return PoolStatus{}, errs.FromStore(err)
	}
	v, err := rt.registry(ctx, true)
	if err != nil {
		return PoolStatus{}, errs.FromStore(err)
	}
	st := PoolStatus{
		Pool: pool, Ready: nonNil(pc.Ready), Draining: nonNil(pc.Draining), DrainRate: pc.DrainRate, Ramp: wireRamp(pc.Ramp),
		Runners: []RunnerStatus{}, Versions: map[string]VersionStatus{},
	}
	for _, r := range v.byPool[pool] {
		alive := v.alive(r, rt.cfg.Lease)
		st.Runners = append(st.Runners, RunnerStatus{
			ID: r.ID, Version: r.Version, Address: r.Address, Alive: alive, Draining: r.Draining,
			Actors: r.Actors, SinceHeartbeatMs: r.SinceHeartbeat.Milliseconds(),
		})
		key := strconv.FormatUint(r.Version, 10)
		vs := st.Versions[key]
		vs.Runners++
		if alive {
			vs.LiveRunners++
		}
		vs.Actors += r.Actors
		vs.Calls, vs.FailedCalls = rt.health.get(pool, r.Version)
		st.Versions[key] = vs
		st.Actors += r.Actors
	}
	acts, err := rt.cfg.Store.ListPoolActivity(ctx)
	if err != nil {
		return PoolStatus{}, errs.FromStore(err)
	}
	for _, a := range acts {
		if a.Pool == pool && !a.DemandAt.IsZero() {
			ms := a.SinceDemand.Milliseconds()
			st.SinceDemandMs = &ms
		}
	}
	return st, nil
}

func nonNil(v []uint64) []uint64 {
	if v == nil {
		return []uint64{}
	}
	return v
}

// SetPoolRouting validates and stores a pool's version routing.
func (rt *Router) SetPoolRouting(ctx context.Context, pc store.PoolConfig) error {
	if pc.Pool == "" || len(pc.Pool) > 128 {
		return errs.InvalidRequest("pool name must be 1 to 128 bytes")
	}
	if len(pc.Ready) > 64 || len(pc.Draining) > 64 {
		return errs.InvalidRequest("at most 64 ready and 64 draining versions")
	}
	for _, v := range append(slices.Clone(pc.Ready), pc.Draining...) {
		if v == 0 {
			return errs.InvalidRequest("versions are positive integers")
		}
	}
	for _, v := range pc.Ready {
		if slices.Contains(pc.Draining, v) {
			return errs.InvalidRequest("version %d cannot be both ready and draining", v)
		}
	}
	if err := validRamp(pc); err != nil {
		return err
	}
	if pc.DrainRate < 0 || pc.DrainRate > 100000 {
		return errs.InvalidRequest("drainRate must be between 0 and 100000 actors per second")
	}
	if err := rt.cfg.Store.SetPoolConfig(ctx, pc); err != nil {
		return errs.FromStore(err)
	}
	_, _ = rt.registry(ctx, true)
	return nil
}

// SetRunnerDraining marks one runner draining (the autoscaler's victim) or not.
func (rt *Router) SetRunnerDraining(ctx context.Context, id string, draining bool) error {
	if err := rt.cfg.Store.SetRunnerDraining(ctx, id, draining); err != nil {
		return fmt.Errorf("set runner draining: %w", errs.FromStore(err))
	}
	return nil
}
