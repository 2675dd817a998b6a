package router

import (
	"context"
	"errors"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// wakeHint is what a runner's stale_generation refusal of a remembered
// placement tells: the actor's instance of generation gen, in pool, is no
// longer there. A runner refuses so without a store read when the
// instance slept (or failed) there, and it notes a sleep only after
// Deactivate committed, so the row most likely still holds gen with no
// runner: the actor can be placed again at once, without reading the row.
type wakeHint struct {
	gen  uint64
	pool string
}

// wakeAt places actorID on a runner of h.pool with a compare-and-set on
// h.gen and runs fn there: a wake from sleep in one store round trip (the
// placement) instead of two (a read of the row, then the placement).
// done is false when the placement did not happen (no runner, or the row
// moved on: another gateway placed it, it was not asleep, ...); the caller
// then asks the store as usual. Place's compare-and-set and its lease
// condition keep this safe whatever the hint: a row that moved past h.gen
// is left alone, and so is an actor whose runner still holds its lease.
func (rt *Router) wakeAt(ctx context.Context, v *registryView, actorID string, h wakeHint, fn func(c Caller, gen uint64) error) (done bool, err error) {
	r, err := rt.pick(ctx, v, h.pool)
	if err != nil {
		return false, nil
	}
	a, err := rt.cfg.Store.Place(ctx, actorID, r.ID, h.gen)
	if errors.Is(err, store.ErrDestroyed) || errors.Is(err, store.ErrNotFound) {
		return true, hostapi.Gone()
	}
	if err != nil {
		return false, nil
	}
	rt.notePlaced(r.ID)
	p := placement{runner: r.ID, gen: a.Generation}
	rt.placements.put(actorID, p)
	err = rt.call(ctx, actorID, r, a.Generation, fn)
	rt.placementFailed(actorID, p, err)
	return true, err
}
