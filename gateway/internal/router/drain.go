package router

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

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
//     actor, each after a free worker and then a token from the pool's
//     token bucket (pacer.go: rate = the pool's drain rate, burst =
//     drainBurst of it), so moves never start faster than the asked rate
//     plus the burst, and start at the rate whenever the dispatcher is not
//     held back; the pacer accounts for both (drain metrics).
//   - Moves run concurrently, at most Config.DrainWorkers across pools. A
//     move stops the actor on its runner (onSleep runs, the state commits,
//     the runner clears the placement), then re-places it through the
//     move batcher, which writes concurrent moves in one
//     store.MovePlacements call (a compare-and-set on the generation and
//     the source runner: a request that placed the actor first wins), then
//     wakes it on the new version when it was awake before. The wake runs
//     in a slot of its own (at most DrainWorkers wakes), taken before the
//     move's worker is freed: a worker is busy for the stop and the
//     placement only, and lagging wakes hold new moves back. An actor that
//     was placed but never woken on the old runner is re-placed without
//     being woken. Sleeping actors have no placement and are not touched:
//     their next request places them on the newest ready version.
//   - An actor is in at most one move at a time (the in-flight set of its
//     pool). Requests for it on this gateway wait for the move's new
//     placement (moving.go) instead of meeting it stopping on the old
//     runner; on other gateways they wait as for any stopping actor.
//   - Every goroutine stops when leadership is lost or RunBackground ends.

// drainBurst is the bucket's depth in seconds of the drain rate (at least
// one actor).
const drainBurst = 0.2

// moveBatchMax bounds one MovePlacements call of the batcher.
const moveBatchMax = 256

// drainer runs the drain while this gateway leads.
type drainer struct {
	rt      *Router
	slots   chan struct{} // one per running move (stop and place)
	wakes   chan struct{} // one per running wake on the new version
	batcher *moveBatcher

	mu    sync.Mutex
	pools map[string]*poolDrain
}

// poolDrain is the dispatcher of one pool.
type poolDrain struct {
	pool   string
	pace   *pacer
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	inflight map[string]bool
	// ended holds the actors whose move ended during this page and the
	// previous one: a page listed while they moved may still show them.
	ended, endedBefore map[string]bool
	// rampInflight counts the ramp's moves in flight (jobs with a version).
	rampInflight int
	reported     drainStats     // the pacing accounting the metrics have
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
	return &drainer{rt: rt, slots: make(chan struct{}, rt.cfg.DrainWorkers), wakes: make(chan struct{}, rt.cfg.DrainWorkers),
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
//
// It reads the registry as routing does (at most RunnerRefresh old), not a
// fresh one: the actor counts cost PostgreSQL a scan of the placed actors'
// index (146 ms a read at 100,000 actors under load; read five times a
// second it took most of a CPU from the drain). The dispatchers list the
// actors themselves, so counts a few seconds old (see countEvery) only
// delay a dispatcher's start or end.
func (d *drainer) tick(ctx context.Context) {
	v, err := d.rt.registry(ctx, false)
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
			pd = &poolDrain{pool: pool, pace: newPacer(d.rt.clock, r), cancel: cancel,
				done: make(chan struct{}), inflight: map[string]bool{}, ended: map[string]bool{}, endedBefore: map[string]bool{}}
			d.pools[pool] = pd
			go d.dispatch(pctx, pd)
		} else {
			pd.pace.setRate(r)
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
	defer d.report(pd)
	for ctx.Err() == nil {
		started, err := d.dispatchPage(ctx, pd)
		if err != nil {
			return
		}
		d.report(pd)
		if started == 0 {
			// Nothing new: moves in flight, or nowhere to go yet.
			if d.rt.clock.Sleep(ctx, drainIdle) != nil {
				return
			}
		}
	}
}

// drainIdle is the dispatcher's pause when a page started nothing.
const drainIdle = 50 * time.Millisecond

// report adds pd's pacing accounting since the last report to the metrics.
func (d *drainer) report(pd *poolDrain) {
	st := pd.pace.stats()
	pd.mu.Lock()
	last := pd.reported
	pd.reported = st
	pd.mu.Unlock()
	d.rt.cfg.Metrics.DrainPacing(pd.pool, st.Rate, st.Burst, st.Started-last.Started, st.Active-last.Active, st.Stalled-last.Stalled)
}

// dispatchPage lists one page of each source's actors and starts a move
// for every one not already moving: a free worker first, then a token, so
// a move starts when its token is granted. Everything but the token wait
// is stalled time (pacer). It returns how many it started; an error only
// when ctx ended.
func (d *drainer) dispatchPage(ctx context.Context, pd *poolDrain) (int, error) {
	var (
		v   *registryView
		pc  store.PoolConfig
		err error
	)
	if v, err = d.rt.registry(ctx, false); err != nil {
		return 0, ctx.Err()
	}
	if pc, err = d.rt.poolConfig(ctx, v, pd.pool); err != nil {
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
			select {
			case d.slots <- struct{}{}:
			case <-ctx.Done():
				return started, ctx.Err()
			}
			if err := pd.pace.take(ctx); err != nil {
				<-d.slots
				return started, err
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
				defer pd.wg.Done()
				wake := d.move(ctx, job, a)
				pd.mu.Lock()
				delete(pd.inflight, a.ID)
				pd.ended[a.ID] = true
				if job.to != 0 {
					pd.rampInflight--
				}
				pd.mu.Unlock()
				if wake == nil {
					<-d.slots
					return
				}
				// The wake runs after the worker is free for the next move,
				// in a slot of its own taken first (so wakes that lag hold
				// moves back rather than pile up).
				select {
				case d.wakes <- struct{}{}:
				case <-ctx.Done():
					<-d.slots
					return
				}
				<-d.slots
				wake()
				<-d.wakes
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

// move stops a on job's runner and re-places it on job's target. When it
// was awake it returns the wake that re-activates it there (run by the
// caller in a wake slot), else nil.
func (d *drainer) move(ctx context.Context, job drainJob, a store.Actor) (wake func()) {
	rt, src := d.rt, job.src
	v, err := rt.registry(ctx, false)
	if err != nil {
		return nil
	}
	pc, err := rt.poolConfig(ctx, v, a.Pool)
	if err != nil {
		return nil
	}
	target, err := d.target(ctx, v, pc, a.Pool, job.to)
	if err != nil {
		return nil
	}
	rt.notePlaced(target.ID) // counted now so concurrent picks spread
	c, err := rt.link(ctx, src)
	if err != nil {
		return nil
	}
	// Requests for it wait for the move's outcome from here on (moving.go)
	// rather than meet it stopping on src.
	end := rt.moving.begin(a.ID)
	ended := false
	defer func() {
		if !ended {
			end()
		}
	}()
	rt.placements.forget(a.ID, placement{runner: src.ID, gen: a.Generation})
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t0 := time.Now()
	err = c.Stop(sctx, hostapi.Target{ActorID: a.ID, Generation: a.Generation})
	cancel()
	t1 := time.Now()
	rt.cfg.Metrics.DrainMoveStep("stop", t1.Sub(t0))
	if err != nil {
		rt.log.Warn("drain: stop actor", "actor_id", a.ID, "runner", src.ID, "err", err)
		return nil
	}
	res, err := d.batcher.move(ctx, store.Move{ID: a.ID, From: src.ID, Gen: a.Generation, To: target.ID})
	rt.cfg.Metrics.DrainMoveStep("place", time.Since(t1))
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
		return nil
	}
	rt.cfg.Metrics.DrainMoved(a.Pool)
	rt.placements.put(a.ID, placement{runner: target.ID, gen: res.Actor.Generation})
	// Waiting requests go to the new placement now; one that arrives
	// before the wake below joins the same activation on target.
	ended = true
	end()
	rt.log.Debug("drain: moved actor", "actor_id", a.ID, "from", src.ID, "to", target.ID, "version", target.Version, "woken", res.WasAsleep)
	if !res.WasAsleep {
		return nil // never woken on src: its next request activates it
	}
	// It was awake: re-activate it on the new version now, not on its next
	// request (a request that comes first joins the same activation).
	gen := res.Actor.Generation
	return func() {
		tc, err := rt.link(ctx, target)
		if err != nil {
			return
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		t0 := time.Now()
		if err := tc.Wake(wctx, hostapi.Target{ActorID: a.ID, Generation: gen}); err != nil {
			rt.log.Debug("drain: wake on the new version", "actor_id", a.ID, "err", err)
		}
		rt.cfg.Metrics.DrainMoveStep("wake", time.Since(t0))
	}
}
