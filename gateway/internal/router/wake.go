package router

import (
	"context"
	"errors"
	"net/http"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
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

// wakeAt runs fn on a runner of h.pool at generation h.gen+1, asking that
// runner to place the actor on itself with a compare-and-set on h.gen as
// it activates it (hostapi.WithSelfPlace; the placement and the read of
// the activation are one store round trip, store.PlaceActivation): a wake
// from sleep costs the gateway no store round trip at all.
//
// done is false when fn did not run: no runner, its link not reachable,
// or the runner refused the generation as stale because the placement
// failed (the row moved on: another gateway placed it, it was not asleep,
// its runner still holds its lease, ...) or because it does not place
// actors itself (an older runner); the caller then asks the store as
// usual. The runner's
// compare-and-set, with the placement lease in it, keeps this safe
// whatever the hint, exactly as the gateway's own Place would.
func (rt *Router) wakeAt(ctx context.Context, v *registryView, actorID string, h wakeHint, fn func(c Caller, gen uint64) error) (done bool, err error) {
	r, err := rt.pick(ctx, v, h.pool)
	if err != nil {
		return false, nil
	}
	p := placement{runner: r.ID, gen: h.gen + 1}
	rt.placements.put(actorID, p)
	err = rt.call(ctx, actorID, r, p.gen, func(c Caller, gen uint64) error { return fn(selfPlacing{c}, gen) })
	if errors.Is(err, errRetry) || errors.Is(err, errs.ErrStale) {
		// Not run: the runner could not be reached, or it did not place
		// the actor.
		rt.placements.forget(actorID, p)
		return false, nil
	}
	rt.notePlaced(r.ID)
	rt.placementFailed(actorID, p, err)
	return true, err
}

// selfPlacing is a Caller whose requests carry hostapi.WithSelfPlace.
type selfPlacing struct{ Caller }

func (c selfPlacing) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	return c.Caller.Action(hostapi.WithSelfPlace(ctx), req)
}

func (c selfPlacing) Connect(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
	return c.Caller.Connect(hostapi.WithSelfPlace(ctx), req, sink)
}

func (c selfPlacing) Request(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return c.Caller.Request(hostapi.WithSelfPlace(ctx), t, w, r)
}

func (c selfPlacing) WebSocket(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error {
	return c.Caller.WebSocket(hostapi.WithSelfPlace(ctx), t, r, ws)
}

func (c selfPlacing) Destroy(ctx context.Context, t hostapi.Target) error {
	return c.Caller.Destroy(hostapi.WithSelfPlace(ctx), t)
}

func (c selfPlacing) QueueSend(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	return c.Caller.QueueSend(hostapi.WithSelfPlace(ctx), req)
}

func (c selfPlacing) Wake(ctx context.Context, t hostapi.Target) error {
	return c.Caller.Wake(hostapi.WithSelfPlace(ctx), t)
}

func (c selfPlacing) Inspect(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return c.Caller.Inspect(hostapi.WithSelfPlace(ctx), t, w, r)
}
