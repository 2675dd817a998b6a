package router

import (
	"context"
	"time"

	"github.com/rivetkube/rivetkube/internal/hostapi"
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
	dr := newDrainer(rt)
	defer dr.close()
	lastGC := time.Time{}
	lastDue := time.Time{}
	for {
		select {
		case <-ctx.Done():
			dr.stopAll() // no move outlives the lease
			if leader {
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_ = rt.cfg.Store.ReleaseLease(rctx, leaderLease, rt.cfg.ID)
				cancel()
			}
			return
		case now := <-t.C:
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
				dr.stopAll()
				continue
			}
			dr.tick(ctx)
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
		// Not held: an actor whose pool has no live runner records the
		// pool's demand and stays due; a later pass wakes it once a runner
		// joined (see coldstart.go).
		err := rt.routeHold(wctx, id, false, func(c Caller, gen uint64) error {
			return c.Wake(wctx, hostapi.Target{ActorID: id, Generation: gen})
		})
		if err != nil {
			rt.log.Debug("wake due actor", "actor_id", id, "err", err)
		}
		cancel()
	}
}
