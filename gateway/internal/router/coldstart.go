package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// Scale to zero, the gateway's part (see docs/scale-to-zero.md).
//
// A request for an actor whose pool has no live runner is held: the router
// records demand for the pool in the store (store.NotePoolDemand, at most
// once per DemandInterval per pool and gateway), which the operator reads
// through the admin status and turns into a scale-up, and the request
// waits for a runner of the pool to join, polling the runner registry
// snapshot (at most RunnerRefresh old). It waits at most ColdStartTimeout
// from its arrival, and at most MaxHeld requests wait so at once per
// gateway; past either bound it gets actor/not_ready, without having run.
// Due work (alarms, queued messages) is never held: the alarm clock records
// the demand and skips the actor until a runner is there (wakeDue).
//
// The actor names a pool's runners define are remembered in the store
// (store.SetPoolNames) whenever a registry read shows them changed, so a
// request by name for a pool with no runner is still recognised
// (HasActor).

// noRunnerError says no live runner may take pool's actors now. It matches
// errRetry: the request may wait for one.
type noRunnerError struct{ pool string }

func (e *noRunnerError) Error() string        { return fmt.Sprintf("no live runner of pool %q", e.pool) }
func (e *noRunnerError) Is(target error) bool { return target == errRetry }

// coldStart is the router's scale-to-zero state: held requests, demand
// notes and remembered actor names.
type coldStart struct {
	held atomic.Int64

	mu       sync.Mutex
	noted    map[string]time.Time // pool → last demand note written by this gateway
	namesOut map[string][]string  // pool → names last written to the store

	namesMu sync.Mutex      // held while the remembered names are read
	names   map[string]bool // remembered names, read from the store
	namesAt time.Time       // when names was read
}

// hold counts one more held request; false when MaxHeld are held already.
func (rt *Router) hold() bool {
	if rt.cold.held.Add(1) > int64(rt.cfg.MaxHeld) {
		rt.cold.held.Add(-1)
		rt.cfg.Metrics.HeldDone("refused")
		return false
	}
	rt.cfg.Metrics.Held(1)
	return true
}

// unhold ends a held request's wait with outcome (runner_joined,
// timed_out, cancelled).
func (rt *Router) unhold(outcome string) {
	rt.cold.held.Add(-1)
	rt.cfg.Metrics.Held(-1)
	rt.cfg.Metrics.HeldDone(outcome)
}

// Held reports how many requests wait for a pool to get a runner.
func (rt *Router) Held() int { return int(rt.cold.held.Load()) }

// noteDemand records demand for pool in the store, at most once per
// DemandInterval per pool from this gateway. A failed write is logged and
// tried again by the next request.
func (rt *Router) noteDemand(ctx context.Context, pool string) {
	now := time.Now()
	rt.cold.mu.Lock()
	if now.Sub(rt.cold.noted[pool]) < rt.cfg.DemandInterval {
		rt.cold.mu.Unlock()
		return
	}
	rt.cold.noted[pool] = now
	rt.cold.mu.Unlock()
	if err := rt.cfg.Store.NotePoolDemand(ctx, pool); err != nil {
		rt.log.Warn("record pool demand", "pool", pool, "err", err)
		rt.cold.mu.Lock()
		delete(rt.cold.noted, pool)
		rt.cold.mu.Unlock()
		return
	}
	rt.cfg.Metrics.PoolDemand(pool)
	rt.log.Debug("pool has no live runner; demand recorded", "pool", pool)
}

// notReadyAfter is the error of a request that waited for pool until its
// bound.
func (rt *Router) notReadyAfter(pool string) error {
	return errs.NotReady("No runner of pool %q joined within %s; the pool is scaling up from zero. Retry later.", pool, rt.cfg.ColdStartTimeout)
}

// notReadyFull is the error of a request refused because MaxHeld requests
// are held already.
func (rt *Router) notReadyFull(pool string) error {
	return errs.NotReady("Pool %q has no live runner and %d requests already wait for one; retry later.", pool, rt.cfg.MaxHeld)
}

// syncPoolNames writes the actor names of each pool with a live runner to
// the store when they changed since this gateway last wrote them.
func (rt *Router) syncPoolNames(ctx context.Context, v *registryView) {
	for pool, runners := range v.byPool {
		var names []string
		for _, r := range runners {
			if v.alive(r, rt.cfg.Lease) {
				names = append(names, r.Names...)
			}
		}
		if len(names) == 0 {
			continue // keep what the store remembers
		}
		slices.Sort(names)
		names = slices.Compact(names)
		rt.cold.mu.Lock()
		same := slices.Equal(rt.cold.namesOut[pool], names)
		rt.cold.mu.Unlock()
		if same {
			continue
		}
		if err := rt.cfg.Store.SetPoolNames(ctx, pool, names); err != nil {
			rt.log.Warn("remember pool names", "pool", pool, "err", err)
			continue
		}
		rt.cold.mu.Lock()
		rt.cold.namesOut[pool] = names
		rt.cold.mu.Unlock()
	}
}

// rememberedName reports whether the store remembers name for some pool
// (read at most once per RunnerRefresh).
func (rt *Router) rememberedName(ctx context.Context, name string) (bool, error) {
	rt.cold.namesMu.Lock()
	defer rt.cold.namesMu.Unlock()
	if rt.cold.names == nil || time.Since(rt.cold.namesAt) >= rt.cfg.RunnerRefresh {
		all, err := rt.cfg.Store.ListPoolActivity(ctx)
		if err != nil {
			return false, err
		}
		m := map[string]bool{}
		for _, a := range all {
			for _, n := range a.Names {
				m[n] = true
			}
		}
		rt.cold.names, rt.cold.namesAt = m, time.Now()
	}
	return rt.cold.names[name], nil
}

// poolHasRunner reports whether the registry snapshot (at most
// RunnerRefresh old) shows a runner that may take pool's new placements:
// what a held request checks before it tries again.
func (rt *Router) poolHasRunner(ctx context.Context, pool string) bool {
	v, err := rt.registry(ctx, false)
	if err != nil {
		return false
	}
	pc, err := rt.poolConfig(ctx, v, pool)
	if err != nil {
		return true // let the attempt find out
	}
	return len(rt.placeable(v, pc, pool)) > 0
}

// isNoRunner returns the pool of a noRunnerError.
func isNoRunner(err error) (string, bool) {
	var nr *noRunnerError
	if errors.As(err, &nr) {
		return nr.pool, true
	}
	return "", false
}
