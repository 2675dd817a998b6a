package router

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// The drain (a leader duty) moves actors off draining versions and
// draining runners onto the newest ready version of their pool, and
// between the two versions of a ramp (ramp.go) until the ramp's share
// holds.
//
//   - Each pool with something to drain has one dispatcher goroutine. It
//     lists the actors placed on the pool's sources and starts one move per
//     actor, each after taking a token from the pool's token bucket (rate
//     = the pool's drain rate, burst = drainBurst of it), so moves never
//     start faster than the asked rate plus the burst.
//   - Moves run concurrently, at most Config.DrainWorkers across pools. A
//     move stops the actor on its runner (onSleep runs, the state commits,
//     the runner clears the placement), then re-places it through the
//     move batcher, which writes concurrent moves in one
//     store.MovePlacements call (a compare-and-set on the generation and
//     the source runner: a request that placed the actor first wins), then
//     wakes it on the new version when it was awake before. An actor that
//     was placed but never woken on the old runner is re-placed without
//     being woken. Sleeping actors have no placement and are not touched:
//     their next request places them on the newest ready version.
//   - An actor is in at most one move at a time (the in-flight set of its
//     pool). Requests for it meanwhile wait, as for any stopping actor.
//   - Every goroutine stops when leadership is lost or RunBackground ends.

// drainBurst is the bucket's depth in seconds of the drain rate (at least
// one actor).
const drainBurst = 0.2

// moveBatchMax bounds one MovePlacements call of the batcher.
const moveBatchMax = 256

// drainer runs the drain while this gateway leads.
type drainer struct {
	rt      *Router
	slots   chan struct{} // one per running move
	batcher *moveBatcher

	mu    sync.Mutex
	pools map[string]*poolDrain
}

// poolDrain is the dispatcher of one pool.
type poolDrain struct {
	pool   string
	lim    *rate.Limiter
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	inflight map[string]bool
	// ended holds the actors whose move ended during this page and the
	// previous one: a page listed while they moved may still show them.
	ended, endedBefore map[string]bool
	// rampInflight counts the ramp's moves in flight (jobs with a version).
	rampInflight int
	wg           sync.WaitGroup // moves started by this dispatcher
}

// drainJob is one source of moves in a pool: the actors of src go to
// version to (0: wherever a new placement would go), at most *budget of
// them (nil: no bound; the ramp's jobs share one budget).
type drainJob struct {
	src    store.Runner
	to     uint64
	budget *int
}

// jobs lists what pool must move now: every actor of its draining runners
// and versions, and the ramp's share (rampMoves) less its moves in flight.
func (d *drainer) jobs(v *registryView, pc store.PoolConfig, pool string, rampInflight int) []drainJob {
	var out []drainJob
	for _, r := range d.sources(v, pc, pool) {
		out = append(out, drainJob{src: r})
	}
	from, to, n := d.rt.rampMoves(v, pc, pool)
	if n -= rampInflight; n <= 0 {
		return out
	}
	budget := &n
	for _, r := range v.byPool[pool] {
		if r.Version == from && r.Actors > 0 && !r.Draining && v.alive(r, d.rt.cfg.Lease) {
			out = append(out, drainJob{src: r, to: to, budget: budget})
		}
	}
	return out
}

func newDrainer(rt *Router) *drainer {
	return &drainer{rt: rt, slots: make(chan struct{}, rt.cfg.DrainWorkers),
		batcher: newMoveBatcher(rt.cfg.Store), pools: map[string]*poolDrain{}}
}

// drainRate is the pool's asked rate in actors per second.
func (d *drainer) drainRate(pc store.PoolConfig) float64 {
	if pc.DrainRate > 0 {
		return pc.DrainRate
	}
	return d.rt.cfg.DefaultDrainRate
}

func burstOf(r float64) int { return max(1, int(r*drainBurst)) }

// sources returns the live runners of pool whose actors must move: those
// draining themselves or of a draining version, with actors placed.
func (d *drainer) sources(v *registryView, pc store.PoolConfig, pool string) []store.Runner {
	var out []store.Runner
	for _, r := range v.byPool[pool] {
		if (r.Draining || slices.Contains(pc.Draining, r.Version)) && r.Actors > 0 && v.alive(r, d.rt.cfg.Lease) {
			out = append(out, r)
		}
	}
	return out
}

// tick starts a dispatcher for every pool with something to drain, ends
// those with nothing left, and applies changed rates.
func (d *drainer) tick(ctx context.Context) {
	v, err := d.rt.registry(ctx, true)
	if err != nil {
		return
	}
	active := map[string]bool{}
	for pool := range v.byPool {
		pc, err := d.rt.poolConfig(ctx, v, pool)
		if err != nil {
			continue
		}
		d.rt.cfg.Metrics.DrainRemaining(pool, actorsByVersion(pc.Draining, d.sources(v, pc, pool)))
		if len(d.jobs(v, pc, pool, 0)) == 0 {
			continue
		}
		active[pool] = true
		r := d.drainRate(pc)
		d.mu.Lock()
		pd := d.pools[pool]
		if pd == nil {
			pctx, cancel := context.WithCancel(ctx)
			pd = &poolDrain{pool: pool, lim: rate.NewLimiter(rate.Limit(r), burstOf(r)), cancel: cancel,
				done: make(chan struct{}), inflight: map[string]bool{}, ended: map[string]bool{}, endedBefore: map[string]bool{}}
			d.pools[pool] = pd
			go d.dispatch(pctx, pd)
		} else if float64(pd.lim.Limit()) != r {
			pd.lim.SetLimit(rate.Limit(r))
			pd.lim.SetBurst(burstOf(r))
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	var ended []*poolDrain
	for pool, pd := range d.pools {
		if !active[pool] {
			ended = append(ended, pd)
			delete(d.pools, pool)
		}
	}
	d.mu.Unlock()
	for _, pd := range ended {
		pd.stop()
	}
}

// stopAll ends every dispatcher and waits for their moves (leadership lost).
func (d *drainer) stopAll() {
	d.mu.Lock()
	pools := d.pools
	d.pools = map[string]*poolDrain{}
	d.mu.Unlock()
	for _, pd := range pools {
		pd.stop()
	}
}

// close stops everything, the batcher included.
func (d *drainer) close() {
	d.stopAll()
	d.batcher.close()
}

func (pd *poolDrain) stop() {
	pd.cancel()
	<-pd.done
}

// dispatch starts moves for pd's pool until ctx ends.
func (d *drainer) dispatch(ctx context.Context, pd *poolDrain) {
	defer close(pd.done)
	defer pd.wg.Wait()
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		}
		started, err := d.dispatchPage(ctx, pd)
		if err != nil {
			return
		}
		if started == 0 {
			idle.Reset(200 * time.Millisecond) // nothing new: moves in flight, or nowhere to go yet
		} else {
			idle.Reset(0)
		}
	}
}

// dispatchPage lists one page of each source's actors and starts a move
// for every one not already moving. It returns how many it started; an
// error only when ctx ended.
func (d *drainer) dispatchPage(ctx context.Context, pd *poolDrain) (int, error) {
	v, err := d.rt.registry(ctx, false)
	if err != nil {
		return 0, ctx.Err()
	}
	pc, err := d.rt.poolConfig(ctx, v, pd.pool)
	if err != nil {
		return 0, ctx.Err()
	}
	if pc.Ramp != nil {
		// The ramp's share is computed from the counts: read them now.
		if v, err = d.rt.registry(ctx, true); err != nil {
			return 0, ctx.Err()
		}
	}
	page := min(store.MaxMoveBatch, max(2*cap(d.slots), int(d.drainRate(pc))))
	started := 0
	pd.mu.Lock()
	pd.endedBefore, pd.ended = pd.ended, make(map[string]bool, len(pd.ended))
	rampInflight := pd.rampInflight
	pd.mu.Unlock()
	for _, job := range d.jobs(v, pc, pd.pool, rampInflight) {
		if job.budget != nil && *job.budget <= 0 {
			continue
		}
		if _, err := d.target(ctx, v, pc, pd.pool, job.to); err != nil {
			continue // nowhere to go yet: keep them where they are
		}
		limit := page
		if job.budget != nil {
			limit = min(limit, *job.budget)
		}
		actors, err := d.rt.cfg.Store.ActorsOnRunner(ctx, job.src.ID, limit)
		if err != nil {
			return started, ctx.Err()
		}
		for _, a := range actors {
			if job.budget != nil && *job.budget <= 0 {
				break
			}
			pd.mu.Lock()
			busy := pd.inflight[a.ID] || pd.ended[a.ID] || pd.endedBefore[a.ID]
			pd.mu.Unlock()
			if busy {
				continue
			}
			if err := pd.lim.Wait(ctx); err != nil {
				return started, err
			}
			select {
			case d.slots <- struct{}{}:
			case <-ctx.Done():
				return started, ctx.Err()
			}
			if job.budget != nil {
				*job.budget--
			}
			pd.mu.Lock()
			pd.inflight[a.ID] = true
			if job.to != 0 {
				pd.rampInflight++
			}
			pd.mu.Unlock()
			pd.wg.Add(1)
			started++
			go func() {
				defer func() {
					pd.mu.Lock()
					delete(pd.inflight, a.ID)
					pd.ended[a.ID] = true
					if job.to != 0 {
						pd.rampInflight--
					}
					pd.mu.Unlock()
					<-d.slots
					pd.wg.Done()
				}()
				d.move(ctx, job, a)
			}()
		}
	}
	return started, nil
}

// target picks the runner a moved actor of pool goes to: one of version
// to (the least loaded), or with to 0 wherever a new placement would go.
func (d *drainer) target(ctx context.Context, v *registryView, pc store.PoolConfig, pool string, to uint64) (store.Runner, error) {
	if to == 0 {
		return d.rt.pick(ctx, v, pool)
	}
	return d.rt.leastLoaded(d.rt.placeable(v, pc, pool)[to])
}

// move stops a on job's runner, re-places it on job's target and wakes it
// there if it was awake. It reports whether the actor moved.
func (d *drainer) move(ctx context.Context, job drainJob, a store.Actor) bool {
	rt, src := d.rt, job.src
	v, err := rt.registry(ctx, false)
	if err != nil {
		return false
	}
	pc, err := rt.poolConfig(ctx, v, a.Pool)
	if err != nil {
		return false
	}
	target, err := d.target(ctx, v, pc, a.Pool, job.to)
	if err != nil {
		return false
	}
	rt.notePlaced(target.ID) // counted now so concurrent picks spread
	c, err := rt.link(ctx, src)
	if err != nil {
		return false
	}
	rt.placements.forget(a.ID, placement{runner: src.ID, gen: a.Generation})
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = c.Stop(sctx, hostapi.Target{ActorID: a.ID, Generation: a.Generation})
	cancel()
	if err != nil {
		rt.log.Warn("drain: stop actor", "actor_id", a.ID, "runner", src.ID, "err", err)
		return false
	}
	res, err := d.batcher.move(ctx, store.Move{ID: a.ID, From: src.ID, Gen: a.Generation, To: target.ID})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		// Fenced: a request placed it first (it is where it should be) or
		// it was destroyed; anything else is tried again later.
		if errors.Is(err, store.ErrFenced) {
			rt.cfg.Metrics.PlacementConflict("drain")
		} else if !errors.Is(err, store.ErrDestroyed) {
			rt.log.Warn("drain: place actor", "actor_id", a.ID, "err", err)
		}
		return false
	}
	rt.cfg.Metrics.DrainMoved(a.Pool)
	rt.placements.put(a.ID, placement{runner: target.ID, gen: res.Actor.Generation})
	if res.WasAsleep {
		// It was awake: re-activate it on the new version now, not on its
		// next request.
		if tc, err := rt.link(ctx, target); err == nil {
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := tc.Wake(wctx, hostapi.Target{ActorID: a.ID, Generation: res.Actor.Generation}); err != nil {
				rt.log.Debug("drain: wake on the new version", "actor_id", a.ID, "err", err)
			}
			cancel()
		}
	}
	rt.log.Debug("drain: moved actor", "actor_id", a.ID, "from", src.ID, "to", target.ID, "version", target.Version, "woken", res.WasAsleep)
	return true
}
