package router

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// leaderLease names the lease that picks the one gateway running the
// background duties (drain, dead-runner removal).
const leaderLease = "rivetkube-gateway-leader"

// RunBackground runs the leader duties until ctx ends. Every gateway runs
// it; the store lease lets exactly one of them act at a time.
func (rt *Router) RunBackground(ctx context.Context) {
	const tick = 200 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	leader := false
	buckets := map[string]float64{}
	last := time.Now()
	lastGC := time.Time{}
	lastDue := time.Time{}
	for {
		select {
		case <-ctx.Done():
			if leader {
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = rt.cfg.Store.ReleaseLease(rctx, leaderLease, rt.cfg.ID)
				cancel()
			}
			return
		case now := <-t.C:
			dt := now.Sub(last).Seconds()
			last = now
			// Every gateway re-reads the registry on its own, which also
			// drops links to runners whose lease expired.
			if _, err := rt.registry(ctx, false); err != nil {
				rt.log.Debug("refresh runner registry", "err", err)
			}
			ok, err := rt.cfg.Store.TryLease(ctx, leaderLease, rt.cfg.ID, 3*rt.cfg.Lease)
			if err != nil {
				rt.log.Warn("leader lease", "err", err)
				continue
			}
			if ok != leader {
				rt.log.Info("leader duties", "leader", ok, "gateway", rt.cfg.ID)
				leader = ok
				rt.cfg.Metrics.Leader(ok)
			}
			if !leader {
				continue
			}
			rt.drainTick(ctx, buckets, dt)
			if now.Sub(lastDue) >= time.Second {
				lastDue = now
				rt.wakeDue(ctx)
			}
			if now.Sub(lastGC) >= rt.cfg.Lease {
				lastGC = now
				rt.gcTick(ctx)
			}
		}
	}
}

// drainTick moves up to each pool's drain rate of actors off draining
// runners and versions onto the newest ready version.
func (rt *Router) drainTick(ctx context.Context, buckets map[string]float64, dt float64) {
	v, err := rt.registry(ctx, true)
	if err != nil {
		return
	}
	for pool, runners := range v.byPool {
		pc, err := rt.cfg.Store.GetPoolConfig(ctx, pool)
		if err != nil {
			continue
		}
		var sources []store.Runner
		for _, r := range runners {
			if (r.Draining || slices.Contains(pc.Draining, r.Version)) && r.Actors > 0 && v.alive(r, rt.cfg.Lease) {
				sources = append(sources, r)
			}
		}
		rt.cfg.Metrics.DrainRemaining(pool, actorsByVersion(pc.Draining, sources))
		if len(sources) == 0 {
			delete(buckets, pool)
			continue
		}
		rate := pc.DrainRate
		if rate <= 0 {
			rate = rt.cfg.DefaultDrainRate
		}
		buckets[pool] = min(buckets[pool]+rate*dt, max(rate, 1))
		budget := int(buckets[pool])
		for _, src := range sources {
			if budget <= 0 {
				break
			}
			actors, err := rt.cfg.Store.ActorsOnRunner(ctx, src.ID, budget)
			if err != nil {
				break
			}
			for _, a := range actors {
				if !rt.move(ctx, v, src, a) {
					break
				}
				budget--
				buckets[pool]--
			}
		}
	}
}

// move stops one actor on src (onSleep runs, state commits) and places it
// on the newest ready version. Requests for it wait meanwhile.
func (rt *Router) move(ctx context.Context, v *registryView, src store.Runner, a store.Actor) bool {
	target, err := rt.pick(ctx, v, a.Pool)
	if err != nil {
		return false // nowhere to go yet: keep it where it is
	}
	c, err := rt.link(ctx, src)
	if err != nil {
		return false
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	rt.placements.forget(a.ID, placement{runner: src.ID, gen: a.Generation})
	err = c.Stop(sctx, hostapi.Target{ActorID: a.ID, Generation: a.Generation})
	cancel()
	if err != nil {
		rt.log.Warn("drain: stop actor", "actor_id", a.ID, "runner", src.ID, "err", err)
		return false
	}
	cur, err := rt.cfg.Store.GetActor(ctx, a.ID)
	if err != nil || cur.Destroyed() || cur.RunnerID != "" {
		return err == nil // already placed again by a request, or gone
	}
	placed, err := rt.cfg.Store.Place(ctx, a.ID, target.ID, cur.Generation)
	if err != nil {
		if errors.Is(err, store.ErrFenced) {
			rt.cfg.Metrics.PlacementConflict("drain")
		}
		return true // a request placed it first
	}
	rt.cfg.Metrics.DrainMoved(a.Pool)
	rt.notePlaced(target.ID)
	rt.placements.put(a.ID, placement{runner: target.ID, gen: placed.Generation})
	// Re-activate it on the new version now, not on its next request.
	if tc, err := rt.link(ctx, target); err == nil {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := tc.Wake(wctx, hostapi.Target{ActorID: a.ID, Generation: placed.Generation}); err != nil {
			rt.log.Debug("drain: wake on the new version", "actor_id", a.ID, "err", err)
		}
		cancel()
	}
	rt.log.Debug("drain: moved actor", "actor_id", a.ID, "from", src.ID, "to", target.ID, "version", target.Version)
	return true
}

// gcTick removes runners whose heartbeat is older than three leases; their
// actors' placement is cleared so the next request places them again.
func (rt *Router) gcTick(ctx context.Context) {
	v, err := rt.registry(ctx, true)
	if err != nil {
		return
	}
	for _, r := range v.runners {
		if r.SinceHeartbeat > 3*rt.cfg.Lease {
			if err := rt.cfg.Store.RemoveRunner(ctx, r.ID); err == nil {
				rt.log.Info("removed dead runner", "runner", r.ID, "pool", r.Pool, "version", r.Version, "since_heartbeat", r.SinceHeartbeat)
			}
		}
	}
}

// wakeDue wakes sleeping actors whose schedules are due or that have queued
// messages: the engine's alarm clock.
func (rt *Router) wakeDue(ctx context.Context) {
	ids, err := rt.cfg.Store.DueActors(ctx, 256)
	if err != nil {
		rt.log.Warn("scan due actors", "err", err)
		return
	}
	for _, id := range ids {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := rt.Wake(wctx, hostapi.Target{ActorID: id}); err != nil {
			rt.log.Debug("wake due actor", "actor_id", id, "err", err)
		}
		cancel()
	}
}
