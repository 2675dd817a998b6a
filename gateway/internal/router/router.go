// Package router is the gateway's hostapi.Host in the distributed engine.
// For each request it reads the actor's placement from the store, places
// the actor when it is asleep or its runner is gone, and forwards the call
// over the persistent link to the runner that hosts it.
//
// Invariants:
//   - Placement is a compare-and-set on the actor's generation
//     (store.Place), so of many gateways placing one actor at once exactly
//     one wins; the others route to the winner.
//   - A runner is alive while its heartbeat, measured by the store's
//     clock, is younger than the lease. An actor whose runner is not alive
//     is placed again (new generation), which fences the old instance.
//   - Requests that find an actor moving (stopping, stale generation,
//     runner unreachable but not yet expired) wait and retry, bounded by
//     Config.WaitTimeout and the request's context; they are never resent
//     after the runner may have run them, except that a call lost with its
//     link answers actor/dropped_reply (clients may retry it).
//   - New actors go to the newest ready version of their pool with a live,
//     non-draining runner, to its least-loaded runner.
//   - A request for a pool with no live runner is held (bounded by
//     Config.ColdStartTimeout and Config.MaxHeld) while the pool's demand
//     is recorded for the operator (coldstart.go); due work is not held.
package router

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
)

// Caller is a link to one runner: hostapi.Host without HasActor.
type Caller interface {
	Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error)
	Connect(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error)
	Request(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error
	WebSocket(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error
	Destroy(ctx context.Context, t hostapi.Target) error
	Stop(ctx context.Context, t hostapi.Target) error
	QueueSend(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error)
	Wake(ctx context.Context, t hostapi.Target) error
	Inspect(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error
	// Done is closed when the link is lost.
	Done() <-chan struct{}
	Close() error
}

// Store is what the router needs of the store.
type Store interface {
	store.Directory
	store.Coordination
	store.Queues
}

// Config configures a Router.
type Config struct {
	// Store holds the directory, placements, the runner registry and due
	// work: the roles the router uses.
	Store Store
	// Dial opens a link to a runner.
	Dial func(ctx context.Context, r store.Runner) (Caller, error)
	// IsLinkLost reports whether err means the link died under the call.
	IsLinkLost func(error) bool
	// Lease is how long a runner stays alive without a heartbeat (default 5 s).
	Lease time.Duration
	// WaitTimeout bounds how long a request waits for its actor to become
	// reachable (placement, drain, runner failover). Default 30 s.
	WaitTimeout time.Duration
	// RunnerRefresh is how often the runner registry is re-read (default 1 s).
	RunnerRefresh time.Duration
	// DefaultDrainRate is actors per second per pool when a pool sets none (default 50).
	DefaultDrainRate float64
	// DrainWorkers bounds the actors being moved at once by the drain,
	// across pools (default 768; see drain.go).
	DrainWorkers int
	// ID names this gateway (leases, logs).
	ID  string
	Log *slog.Logger
	// PlacementCache bounds how many actors' last known placements the
	// router remembers (default 100,000; negative disables the cache).
	PlacementCache int
	// Metrics, when set, records placement conflicts and drain progress.
	Metrics *metrics.Router
	// ColdStartTimeout bounds how long a request waits, from its arrival,
	// for a runner of a pool that has none (a pool scaled to zero). Default
	// 60 s; it is raised to WaitTimeout when lower.
	ColdStartTimeout time.Duration
	// MaxHeld bounds the requests one gateway holds for pools without a
	// runner (default 10,000); more get actor/not_ready at once.
	MaxHeld int
	// DemandInterval is how often one gateway records demand for one pool
	// (default 1 s).
	DemandInterval time.Duration
}

func (c Config) withDefaults() Config {
	if c.Lease <= 0 {
		c.Lease = 5 * time.Second
	}
	if c.WaitTimeout <= 0 {
		c.WaitTimeout = 30 * time.Second
	}
	if c.RunnerRefresh <= 0 {
		c.RunnerRefresh = time.Second
	}
	if c.DefaultDrainRate <= 0 {
		c.DefaultDrainRate = 50
	}
	if c.DrainWorkers <= 0 {
		c.DrainWorkers = 768
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.IsLinkLost == nil {
		c.IsLinkLost = func(error) bool { return false }
	}
	if c.PlacementCache == 0 {
		c.PlacementCache = 100_000
	}
	if c.ColdStartTimeout <= 0 {
		c.ColdStartTimeout = 60 * time.Second
	}
	c.ColdStartTimeout = max(c.ColdStartTimeout, c.WaitTimeout)
	if c.MaxHeld <= 0 {
		c.MaxHeld = 10_000
	}
	if c.DemandInterval <= 0 {
		c.DemandInterval = time.Second
	}
	return c
}

// Router implements hostapi.Host by forwarding to runners.
type Router struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	links   map[string]*linkEntry // by runner ID
	view    *registryView
	viewAt  time.Time
	loading chan struct{}  // non-nil while a refresh runs
	placed  map[string]int // placements made since the last count, by runner
	// countedAt is when the last read that counted actors began.
	countedAt time.Time

	placements placementCache
	health     versionHealth
	cold       coldStart
	moving     movingSet // actors the drain is moving (moving.go)
	clock      clock     // the drain's pacing clock (pacer.go; fake in tests)
}

type linkEntry struct {
	ready chan struct{}
	c     Caller
	err   error
}

// New returns a router.
func New(cfg Config) *Router {
	cfg = cfg.withDefaults()
	rt := &Router{cfg: cfg, log: cfg.Log, links: map[string]*linkEntry{}, placed: map[string]int{}, clock: realClock{},
		placements: placementCache{max: cfg.PlacementCache, m: map[string]placement{}}}
	rt.cold.noted, rt.cold.namesOut = map[string]time.Time{}, map[string][]string{}
	return rt
}

var _ hostapi.Host = (*Router)(nil)

// registryView is a snapshot of the runner registry.
type registryView struct {
	at      time.Time // when the read finished
	started time.Time // when the read began
	// counted says the runners' Actors were counted by this read; else
	// they are the previous view's (see Router.registry).
	counted bool
	runners map[string]store.Runner
	byPool  map[string][]store.Runner
	names   map[string]bool
	// pools caches pool configs read while this view is current (under
	// Router.mu), so they are as fresh as the runner registry.
	pools map[string]store.PoolConfig
}

func (v *registryView) alive(r store.Runner, lease time.Duration) bool {
	return r.SinceHeartbeat+time.Since(v.at) < lease
}

// countEvery is how many RunnerRefresh periods a routine registry read
// keeps the actor counts of the last read that counted them.
const countEvery = 5

// registry returns a snapshot of the runner registry: one at most
// RunnerRefresh old (its actor counts at most countEvery of them), or with
// force one whose read began after this call (so a runner registered before
// the call is in it) and counted the actors. One read runs at a time;
// callers wait for it.
func (rt *Router) registry(ctx context.Context, force bool) (*registryView, error) {
	var after time.Time
	if force {
		after = time.Now()
	}
	for {
		rt.mu.Lock()
		if v := rt.view; v != nil {
			if (force && v.counted && !v.started.Before(after)) || (!force && time.Since(rt.viewAt) < rt.cfg.RunnerRefresh) {
				rt.mu.Unlock()
				return v, nil
			}
		}
		if wait := rt.loading; wait != nil {
			rt.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		done := make(chan struct{})
		rt.loading = done
		started := time.Now()
		// Counting the actors per runner costs the store a scan of every
		// placed actor: a forced read counts, a routine refresh only every
		// countEvery refreshes and otherwise keeps the last counts (plus
		// the placements made since, see placed).
		count := force || rt.view == nil || started.Sub(rt.countedAt) >= countEvery*rt.cfg.RunnerRefresh
		rt.mu.Unlock()

		var runners []store.Runner
		var err error
		if count {
			runners, err = rt.cfg.Store.ListRunners(ctx, "")
		} else {
			runners, err = rt.cfg.Store.ListRunnerRows(ctx, "")
		}
		rt.mu.Lock()
		rt.loading = nil
		close(done)
		if err != nil {
			v := rt.view
			rt.mu.Unlock()
			if v != nil {
				return v, nil // serve the last snapshot while the store hiccups
			}
			return nil, err
		}
		v := &registryView{at: time.Now(), started: started, counted: count, runners: map[string]store.Runner{}, byPool: map[string][]store.Runner{},
			names: map[string]bool{}, pools: map[string]store.PoolConfig{}}
		for _, r := range runners {
			if !count && rt.view != nil {
				r.Actors = rt.view.runners[r.ID].Actors
			}
			v.runners[r.ID] = r
			v.byPool[r.Pool] = append(v.byPool[r.Pool], r)
			for _, n := range r.Names {
				v.names[n] = true
			}
		}
		rt.view, rt.viewAt = v, v.at
		if count {
			rt.countedAt = started
			clear(rt.placed)
		}
		for id, e := range rt.links {
			// A runner gone from the registry, or past its lease, may be
			// frozen or partitioned: drop the link so calls waiting on it end
			// now (actor/dropped_reply) instead of at the link's ping timeout.
			if r, ok := v.runners[id]; !ok || !v.alive(r, rt.cfg.Lease) {
				rt.dropLinkLocked(id, e)
			}
		}
		rt.mu.Unlock()
		// Remember the pools' actor names for when they have no runner
		// (a store write only when they changed).
		rt.syncPoolNames(ctx, v)
		return v, nil
	}
}

// HasActor reports whether a registered runner defines actors of this
// name, or the store remembers the name for a pool that has no runner now
// (a pool scaled to zero).
func (rt *Router) HasActor(name string) bool {
	if v := rt.freshView(); v != nil && v.names[name] {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := rt.registry(ctx, false)
	if err != nil {
		return true // let the request through; placement reports what is wrong
	}
	if v.names[name] {
		return true
	}
	// A runner may have registered since the snapshot: read it again.
	if v, err = rt.registry(ctx, true); err != nil {
		return true
	}
	if v.names[name] {
		return true
	}
	known, err := rt.rememberedName(ctx, name)
	return known || err != nil
}

// poolConfig returns pool's routing as of view v: read once per view (at
// most RunnerRefresh old, like the registry; SetPoolRouting refreshes the
// view).
func (rt *Router) poolConfig(ctx context.Context, v *registryView, pool string) (store.PoolConfig, error) {
	rt.mu.Lock()
	pc, ok := v.pools[pool]
	rt.mu.Unlock()
	if ok {
		return pc, nil
	}
	pc, err := rt.cfg.Store.GetPoolConfig(ctx, pool)
	if err != nil {
		return store.PoolConfig{}, err
	}
	rt.mu.Lock()
	v.pools[pool] = pc
	rt.mu.Unlock()
	return pc, nil
}

// freshView returns the registry snapshot when it is younger than
// RunnerRefresh (what registry would return without reading), else nil.
func (rt *Router) freshView() *registryView {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.view != nil && time.Since(rt.viewAt) < rt.cfg.RunnerRefresh {
		return rt.view
	}
	return nil
}

// pick chooses the runner for a new placement in pool. The caller counts
// a placement it makes there with notePlaced.
func (rt *Router) pick(ctx context.Context, v *registryView, pool string) (store.Runner, error) {
	pc, err := rt.poolConfig(ctx, v, pool)
	if err != nil {
		return store.Runner{}, errs.FromStore(err)
	}
	live := rt.placeable(v, pc, pool)
	var newest uint64
	for ver := range live {
		newest = max(newest, ver)
	}
	return rt.leastLoaded(live[rampChoice(pc.Ramp, live, newest)])
}

// placeable returns the runners of pool that may take new placements, by
// version: live, not draining, of a ready (and not draining) version.
func (rt *Router) placeable(v *registryView, pc store.PoolConfig, pool string) map[uint64][]store.Runner {
	live := map[uint64][]store.Runner{}
	for _, r := range v.byPool[pool] {
		if r.Draining || !v.alive(r, rt.cfg.Lease) || slices.Contains(pc.Draining, r.Version) {
			continue
		}
		if len(pc.Ready) > 0 && !slices.Contains(pc.Ready, r.Version) {
			continue
		}
		live[r.Version] = append(live[r.Version], r)
	}
	return live
}

// leastLoaded picks the runner of cands with the fewest actors, counting
// the placements made since the registry snapshot.
func (rt *Router) leastLoaded(cands []store.Runner) (store.Runner, error) {
	if len(cands) == 0 {
		return store.Runner{}, errNoRunner
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	best := cands[rand.IntN(len(cands))]
	bestLoad := best.Actors + rt.placed[best.ID]
	for _, r := range cands {
		if l := r.Actors + rt.placed[r.ID]; l < bestLoad {
			best, bestLoad = r, l
		}
	}
	return best, nil
}

// notePlaced counts a placement on runnerID until the next registry read
// (which counts it itself), so picks in between spread.
func (rt *Router) notePlaced(runnerID string) {
	rt.mu.Lock()
	rt.placed[runnerID]++
	rt.mu.Unlock()
}

var errNoRunner = errs.Unavailable("no live runner can host this actor's pool yet")

// link returns the (shared) link to a runner, dialing it once.
func (rt *Router) link(ctx context.Context, r store.Runner) (Caller, error) {
	rt.mu.Lock()
	e := rt.links[r.ID]
	if e != nil {
		select {
		case <-e.ready: // e.c is set before ready closes: safe to read now
			if e.c != nil {
				select {
				case <-e.c.Done():
					rt.dropLinkLocked(r.ID, e)
					e = nil
				default:
				}
			}
		default: // still dialing: wait for it below
		}
	}
	if e == nil {
		e = &linkEntry{ready: make(chan struct{})}
		rt.links[r.ID] = e
		rt.mu.Unlock()
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		e.c, e.err = rt.cfg.Dial(dctx, r)
		cancel()
		close(e.ready)
		if e.err != nil {
			rt.mu.Lock()
			if rt.links[r.ID] == e {
				delete(rt.links, r.ID)
			}
			rt.mu.Unlock()
		}
	} else {
		rt.mu.Unlock()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.c, e.err
}

func (rt *Router) dropLinkLocked(id string, e *linkEntry) {
	delete(rt.links, id)
	go func() {
		<-e.ready
		if e.c != nil {
			_ = e.c.Close()
		}
	}()
}

// Close closes every link.
func (rt *Router) Close() {
	rt.mu.Lock()
	for id, e := range rt.links {
		rt.dropLinkLocked(id, e)
	}
	rt.mu.Unlock()
}

// retryable reports errors that mean "the actor is moving; try again".
func retryable(err error) bool { return errs.Retryable(err) }

// route runs fn against the runner hosting actorID, placing it if needed.
// fn gets the link and the placement generation. A request for a pool with
// no live runner is held for one (see coldstart.go).
func (rt *Router) route(ctx context.Context, actorID string, fn func(c Caller, gen uint64) error) error {
	if rt.moving.wait(ctx, actorID, rt.cfg.WaitTimeout) && ctx.Err() != nil {
		// The drain is moving it (this gateway leads): the request waits
		// for its new placement instead of meeting it stopping on the old
		// runner, and the client gave up meanwhile.
		return errs.Stopping()
	}
	return rt.routeHold(ctx, actorID, true, fn)
}

// routeHold is route; with hold false a pool without a live runner answers
// actor/not_ready at once (after recording its demand) instead of waiting.
func (rt *Router) routeHold(ctx context.Context, actorID string, hold bool, fn func(c Caller, gen uint64) error) error {
	// The common case first, without the wait's timer: a remembered
	// placement on a runner the current snapshot shows alive.
	var hint *wakeHint
	if v := rt.freshView(); v != nil {
		done, h, err := rt.tryRemembered(ctx, v, actorID, fn)
		if done {
			return err
		}
		// Nothing remembered, or it did not run: the loop below asks the
		// store.
		hint = h
	}
	start := time.Now()
	// WaitTimeout bounds the wait for an actor that moves; a held request
	// (no runner in its pool) waits up to ColdStartTimeout >= WaitTimeout.
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.ColdStartTimeout)
	defer cancel()
	giveUp := start.Add(rt.cfg.WaitTimeout)
	held, heldPool, outcome := false, "", "runner_joined"
	defer func() {
		if held {
			rt.unhold(outcome)
		}
	}()
	backoff := 10 * time.Millisecond
	var last error
	for {
		var err error
		if held && !rt.poolHasRunner(ctx, heldPool) {
			err = last // nothing changed for this request: no store read
		} else {
			err = rt.routeOnce(ctx, actorID, held, hint, fn)
		}
		hint = nil
		if err == nil || !retryable(err) && !errors.Is(err, errRetry) {
			return err
		}
		last = err
		if rt.moving.wait(ctx, actorID, rt.cfg.WaitTimeout) && ctx.Err() == nil {
			continue // moved meanwhile: route to the new placement now
		}
		wait := backoff + time.Duration(rand.Int64N(int64(backoff)))
		if pool, ok := isNoRunner(err); ok {
			rt.noteDemand(ctx, pool)
			switch {
			case !hold:
				return rt.notReadyAfter(pool)
			case !held && !rt.hold():
				return rt.notReadyFull(pool)
			case !held:
				held, heldPool, giveUp = true, pool, start.Add(rt.cfg.ColdStartTimeout)
				rt.log.Debug("holding request until a runner joins", "actor_id", actorID, "pool", pool)
			}
			// Held: look again when the registry snapshot may have changed.
			wait = min(rt.cfg.RunnerRefresh/2, 250*time.Millisecond)
		}
		if time.Now().Add(wait).After(giveUp) {
			wait = max(time.Until(giveUp), 0)
		}
		select {
		case <-time.After(wait):
			if !time.Now().Before(giveUp) {
				outcome = "timed_out"
				return rt.gaveUp(actorID, last)
			}
		case <-ctx.Done():
			outcome = "timed_out"
			if ctx.Err() == context.Canceled {
				outcome = "cancelled"
			}
			if errors.Is(last, errRetry) || retryable(last) {
				return rt.gaveUp(actorID, last)
			}
			return last
		}
		backoff = min(backoff*2, 250*time.Millisecond)
	}
}

// gaveUp is the answer of a request that waited for its actor in vain.
func (rt *Router) gaveUp(actorID string, last error) error {
	rt.log.Debug("gave up waiting for actor", "actor_id", actorID, "err", last)
	if pool, ok := isNoRunner(last); ok {
		return rt.notReadyAfter(pool)
	}
	return errs.Stopping()
}

var errRetry = errors.New("retry")

// Ended is runner runnerID's notice that actorID's instance of generation
// gen ended there for good (link.DialOptions.OnEnded). When that is the
// placement remembered, a destroyed actor's entry is dropped, and a
// sleeping actor's is kept as a wake hint: its next request asks a runner
// to place it at gen+1 at once (wakeAt) instead of first trying runnerID
// and being refused as stale. Only a hint: the placement's compare-and-set
// decides.
func (rt *Router) Ended(runnerID, actorID string, gen uint64, destroyed bool) {
	p := placement{runner: runnerID, gen: gen}
	if destroyed {
		rt.placements.forget(actorID, p)
		return
	}
	rt.placements.ended(actorID, p)
}

// tryRemembered runs fn on actorID's remembered placement when v shows
// its runner alive. done says err is the answer; otherwise fn did not run
// (nothing remembered, the runner is gone or past its lease, or it refused
// the generation as stale or stopping), the placement is forgotten, and
// the store must decide. When the runner refused the generation as stale,
// hint says which: the actor most likely slept at it (see wakeHint).
func (rt *Router) tryRemembered(ctx context.Context, v *registryView, actorID string, fn func(c Caller, gen uint64) error) (done bool, hint *wakeHint, err error) {
	p, ok := rt.placements.get(actorID)
	if !ok {
		return false, nil, nil
	}
	r, ok := v.runners[p.runner]
	if p.ended {
		// Its runner said the instance of p.gen ended there (it slept):
		// wake it at p.gen+1 without asking that runner first.
		rt.placements.forget(actorID, p)
		if !ok {
			return false, nil, nil
		}
		return false, &wakeHint{gen: p.gen, pool: r.Pool}, nil
	}
	if !ok || !v.alive(r, rt.cfg.Lease) {
		rt.placements.forget(actorID, p)
		return false, nil, nil
	}
	err = rt.call(ctx, actorID, r, p.gen, fn)
	if !rt.placementFailed(actorID, p, err) {
		return true, nil, err
	}
	if !retryable(err) && !errors.Is(err, errRetry) {
		return true, nil, err // gone or dropped: not sent again
	}
	if errors.Is(err, errs.ErrStale) {
		hint = &wakeHint{gen: p.gen, pool: r.Pool}
	}
	return false, hint, nil
}

// routeOnce makes one attempt to run fn where actorID lives. A remembered
// placement is tried first, without reading the store; when the runner
// answers that it no longer hosts that generation (stale, stopping), or
// cannot be reached, or is past its lease, the placement is forgotten and
// the store's row decides, as for an actor seen for the first time.
//
// held says the request waits for a runner of a pool that has none; its
// attempts then use the registry snapshot as it is (refreshed every
// RunnerRefresh by the background loop) instead of forcing a read each.
// hint, when set, is the generation a remembered runner refused as stale
// (see wakeHint).
func (rt *Router) routeOnce(ctx context.Context, actorID string, held bool, hint *wakeHint, fn func(c Caller, gen uint64) error) error {
	v, err := rt.registry(ctx, false)
	if err != nil {
		return errRetry
	}
	done, h, err := rt.tryRemembered(ctx, v, actorID, fn)
	if done {
		return err
	}
	if h != nil {
		hint = h
	}
	if hint != nil {
		if done, err := rt.wakeAt(ctx, v, actorID, *hint, fn); done {
			return err
		}
	}
	// Nothing remembered, or it did not run: ask the store where the actor
	// is now.
	a, err := rt.cfg.Store.GetActor(ctx, actorID)
	if errors.Is(err, store.ErrNotFound) {
		return hostapi.Gone()
	}
	if err != nil {
		return errs.FromStore(err)
	}
	if a.Destroyed() {
		return hostapi.Gone()
	}
	var target store.Runner
	placedHere := false
	if a.RunnerID != "" {
		r, ok := v.runners[a.RunnerID]
		if !ok || !v.alive(r, rt.cfg.Lease) {
			// Maybe it registered, or heartbeated again, after the snapshot:
			// an actor moves off its runner only on a fresh view (Place
			// itself refuses to take it from a runner within its lease,
			// see pgstore.Options.PlaceLease; this spares the attempt).
			if v, err = rt.registry(ctx, true); err != nil {
				return errRetry
			}
			r, ok = v.runners[a.RunnerID]
		}
		if ok && v.alive(r, rt.cfg.Lease) {
			target, placedHere = r, true
		}
	}
	if !placedHere {
		r, err := rt.pick(ctx, v, a.Pool)
		if errors.Is(err, errNoRunner) {
			if !held {
				_, _ = rt.registry(ctx, true)
			}
			return &noRunnerError{pool: a.Pool}
		}
		if err != nil {
			return err
		}
		na, err := rt.cfg.Store.Place(ctx, actorID, r.ID, a.Generation)
		if errors.Is(err, store.ErrFenced) {
			rt.cfg.Metrics.PlacementConflict("request")
			return errRetry // another gateway placed it first: route to the winner
		}
		if errors.Is(err, store.ErrDestroyed) {
			return hostapi.Gone()
		}
		if err != nil {
			return errs.FromStore(err)
		}
		rt.notePlaced(r.ID)
		a, target = na, r
	}
	p := placement{runner: target.ID, gen: a.Generation}
	rt.placements.put(actorID, p)
	err = rt.call(ctx, actorID, target, a.Generation, fn)
	rt.placementFailed(actorID, p, err)
	return err
}

// call runs fn on the link to target.
func (rt *Router) call(ctx context.Context, actorID string, target store.Runner, gen uint64, fn func(c Caller, gen uint64) error) error {
	c, err := rt.link(ctx, target)
	if err != nil {
		rt.log.Debug("runner unreachable", "runner", target.ID, "actor_id", actorID, "err", err)
		return errRetry // retried until the runner's lease expires, then placed elsewhere
	}
	err = fn(c, gen)
	if err != nil && rt.cfg.IsLinkLost(err) {
		return errDroppedReply()
	}
	rt.health.note(target.Pool, target.Version, err)
	return err
}

func errDroppedReply() error {
	return errs.DroppedReply("The runner hosting the actor went away; the request may or may not have run.")
}

// placementFailed forgets placement p of actorID when err says the actor
// is not (or no longer) there: the runner refused the generation or is
// stopping it, the runner or its link is gone, or the actor is destroyed.
// It reports whether it did.
func (rt *Router) placementFailed(actorID string, p placement, err error) bool {
	if err == nil {
		return false
	}
	if retryable(err) || errors.Is(err, errRetry) || errors.Is(err, hostapi.ErrGone) ||
		errors.Is(err, errs.ErrDroppedReply) {
		rt.placements.forget(actorID, p)
		return true
	}
	return false
}

// Action implements hostapi.Host.
func (rt *Router) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	var out []byte
	err := rt.route(ctx, req.ActorID, func(c Caller, gen uint64) error {
		r := req
		r.Generation = gen
		var err error
		out, err = c.Action(ctx, r)
		return err
	})
	return out, err
}

// Connect implements hostapi.Host.
func (rt *Router) Connect(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
	var conn hostapi.Conn
	err := rt.route(ctx, req.ActorID, func(c Caller, gen uint64) error {
		r := req
		r.Generation = gen
		var err error
		conn, err = c.Connect(ctx, r, sink)
		return err
	})
	return conn, err
}

// Request implements hostapi.Host.
func (rt *Router) Request(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return rt.route(ctx, t.ActorID, func(c Caller, gen uint64) error {
		return c.Request(ctx, hostapi.Target{ActorID: t.ActorID, Generation: gen}, w, r)
	})
}

// WebSocket implements hostapi.Host.
func (rt *Router) WebSocket(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error {
	return rt.route(ctx, t.ActorID, func(c Caller, gen uint64) error {
		return c.WebSocket(ctx, hostapi.Target{ActorID: t.ActorID, Generation: gen}, r, ws)
	})
}

// Destroy implements hostapi.Host.
func (rt *Router) Destroy(ctx context.Context, t hostapi.Target) error {
	err := rt.route(ctx, t.ActorID, func(c Caller, gen uint64) error {
		return c.Destroy(ctx, hostapi.Target{ActorID: t.ActorID, Generation: gen})
	})
	rt.placements.forgetAll(t.ActorID)
	return err
}

// QueueSend implements hostapi.Host.
func (rt *Router) QueueSend(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	var res hostapi.QueueSendResponse
	err := rt.route(ctx, req.ActorID, func(c Caller, gen uint64) error {
		r := req
		r.Generation = gen
		var err error
		res, err = c.QueueSend(ctx, r)
		return err
	})
	return res, err
}

// Wake implements hostapi.Host: it places the actor if needed and starts it.
func (rt *Router) Wake(ctx context.Context, t hostapi.Target) error {
	return rt.route(ctx, t.ActorID, func(c Caller, gen uint64) error {
		return c.Wake(ctx, hostapi.Target{ActorID: t.ActorID, Generation: gen})
	})
}

// Inspect implements hostapi.Host.
func (rt *Router) Inspect(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return rt.route(ctx, t.ActorID, func(c Caller, gen uint64) error {
		return c.Inspect(ctx, hostapi.Target{ActorID: t.ActorID, Generation: gen}, w, r)
	})
}

// Stop implements hostapi.Host: it stops the actor where it runs, if it runs.
func (rt *Router) Stop(ctx context.Context, t hostapi.Target) error {
	a, err := rt.cfg.Store.GetActor(ctx, t.ActorID)
	if err != nil {
		return errs.FromStore(err)
	}
	if a.RunnerID == "" || a.Destroyed() {
		return nil
	}
	v, err := rt.registry(ctx, false)
	if err != nil {
		return errs.FromStore(err)
	}
	r, ok := v.runners[a.RunnerID]
	if !ok {
		return nil
	}
	c, err := rt.link(ctx, r)
	if err != nil {
		return errs.Unavailable("runner unreachable")
	}
	rt.placements.forget(a.ID, placement{runner: a.RunnerID, gen: a.Generation})
	return c.Stop(ctx, hostapi.Target{ActorID: a.ID, Generation: a.Generation})
}

// GetOrCreateActor returns the live actor for spec's key or creates it.
// A new actor is created already placed on the runner a first request
// would pick (store.ActorSpec.RunnerID): the same compare-and-set outcome
// as a Place from generation 0, without its separate statement and commit.
// When no runner can host the pool yet it is created asleep and placed by
// its first request. The row's placement is remembered for routing.
func (rt *Router) GetOrCreateActor(ctx context.Context, spec store.ActorSpec) (store.Actor, bool, error) {
	spec.RunnerID = ""
	if v, err := rt.registry(ctx, false); err == nil {
		if r, err := rt.pick(ctx, v, spec.Pool); err == nil {
			spec.RunnerID = r.ID
		}
	}
	a, created, err := rt.cfg.Store.GetOrCreateActor(ctx, spec)
	if err != nil {
		return a, created, err
	}
	if created && a.RunnerID != "" {
		rt.notePlaced(a.RunnerID)
	}
	if a.RunnerID != "" && !a.Destroyed() {
		rt.placements.put(a.ID, placement{runner: a.RunnerID, gen: a.Generation})
	}
	return a, created, nil
}
