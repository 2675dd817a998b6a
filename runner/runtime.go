package runner

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/client"
	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/metrics"
	"github.com/rivetkube/rivetkube/internal/store"
)

// Limits bounds what actors accept and keep. Zero fields take defaults.
type Limits struct {
	SleepTimeout  time.Duration // default 30 s
	ActionTimeout time.Duration // default 60 s
	StartTimeout  time.Duration // default 30 s: activation incl. onCreate/onWake
	StopTimeout   time.Duration // default 30 s: onSleep/onDestroy and final commit
	MailboxSize   int           // default 1024 queued tasks per actor
	MaxStateSize  int           // default 4 MiB of encoded state
	MaxKVKeySize  int           // default 2 KiB
	MaxKVValue    int           // default 1 MiB
	MaxConns      int           // default 10,000 connections per actor
	MaxRawBody    int           // default 4 MiB raw HTTP response buffered by onRequest
	OutboxSize    int           // default 4096 pending outputs per actor
	MaxQueue      int           // default 1,000 messages waiting per actor
	DueScan       time.Duration // default 1 s: how often sleeping actors with due work are looked for
	MaxSuspended  int           // default 256 tasks of one actor waiting at wait points at once
	// SQL database (c.DB()) per actor; zero means pagedb's default.
	MaxDBSize       int64 // default 1 GiB
	MaxDBDirtyPages int   // default 16,384 pages (64 MiB) changed by one task
	DBCachePages    int   // default 4,096 pages (16 MiB) cached per awake actor
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.SleepTimeout, 30*time.Second)
	def(&l.ActionTimeout, 60*time.Second)
	def(&l.StartTimeout, 30*time.Second)
	def(&l.StopTimeout, 30*time.Second)
	defi(&l.MailboxSize, 1024)
	defi(&l.MaxStateSize, 4<<20)
	defi(&l.MaxKVKeySize, 2<<10)
	defi(&l.MaxKVValue, 1<<20)
	defi(&l.MaxConns, 10000)
	defi(&l.MaxRawBody, 4<<20)
	defi(&l.OutboxSize, 4096)
	defi(&l.MaxQueue, 1000)
	defi(&l.MaxSuspended, 256)
	def(&l.DueScan, time.Second)
	return l
}

// Runtime hosts actor instances and implements hostapi.Host: the local
// engine's gateway calls it directly, a runner serves it over the link.
type Runtime struct {
	store     Store
	committer *store.Committer
	defs      map[string]Definition
	runnerID  string
	// placed is set in runner mode: the gateway places actors and names the
	// generation; the runtime never activates on its own.
	placed bool
	// lease is the runner's view of its lease (runner mode; nil otherwise).
	lease  *leaseGate
	limits Limits
	log    *slog.Logger
	// metrics may be nil (no metrics).
	metrics *metrics.Runner

	// endpoint is the engine's client URL, for actor-to-actor calls.
	endpoint   string
	clientOnce sync.Once
	cl         *client.Client

	// cfgs is each definition's Config, made once (read-only).
	cfgs map[string]*ActorConfig

	// sleeper runs the instances' sleep countdowns.
	sleeper sleeper

	mu      sync.Mutex
	actors  map[string]*Instance
	closing bool
	// wg counts each live instance once (until it has stopped) and each
	// goroutine running an instance's mailbox loop.
	wg sync.WaitGroup
	// ended remembers, in runner mode, the generation at which an actor's
	// instance here ended for good (under mu): put to sleep with its
	// placement cleared, or destroyed. A later request naming that
	// generation is stale (or gone) for sure, since any new placement has a
	// higher one: it is refused without reading the store. Bounded.
	ended map[string]endedAt
	// onEnded, when set (runner mode), tells the gateways what noteEnded
	// records (link.Server.Ended). Set before any instance starts.
	onEnded func(id string, gen uint64, destroyed bool)
}

// endedAt is an entry of runtime.ended.
type endedAt struct {
	gen       uint64
	destroyed bool
}

// maxEnded bounds runtime.ended.
const maxEnded = 100_000

// noteEnded records that id's instance of generation gen ended for good.
func (rt *Runtime) noteEnded(id string, gen uint64, destroyed bool) {
	if !rt.placed {
		return
	}
	rt.mu.Lock()
	if rt.ended == nil {
		rt.ended = map[string]endedAt{}
	}
	if _, ok := rt.ended[id]; !ok && len(rt.ended) >= maxEnded {
		for k := range rt.ended { // arbitrary eviction: costs one store read
			delete(rt.ended, k)
			break
		}
	}
	rt.ended[id] = endedAt{gen: gen, destroyed: destroyed}
	rt.mu.Unlock()
	if rt.onEnded != nil {
		rt.onEnded(id, gen, destroyed)
	}
}

var _ hostapi.Host = (*Runtime)(nil)

// Store is what the runtime needs of the store: the directory (an actor's
// row, destroy), an instance's reads and fenced commits, and queues.
type Store interface {
	store.Directory
	store.Instances
	store.Queues
}

// RuntimeConfig configures a Runtime.
type RuntimeConfig struct {
	Store     Store
	Committer *store.Committer
	Defs      []Definition
	// RunnerID names this process in placements and logs.
	RunnerID string
	// Placed is set in runner mode: the gateway places actors and names
	// the generation; the runtime never activates on its own.
	Placed bool
	Limits Limits
	Log    *slog.Logger
	// Metrics, when set, records rivetkube_runner_* (see observe.go).
	Metrics *metrics.Runner
}

// NewRuntime returns a runtime hosting cfg.Defs. A duplicate name panics.
func NewRuntime(cfg RuntimeConfig) *Runtime {
	defs := make(map[string]Definition, len(cfg.Defs))
	for _, d := range cfg.Defs {
		if _, dup := defs[d.Name()]; dup {
			panic("runner: actor " + d.Name() + " registered twice")
		}
		defs[d.Name()] = d
	}
	rt := newRuntime(cfg.Store, cfg.Committer, defs, cfg.RunnerID, cfg.Limits, cfg.Log)
	rt.placed = cfg.Placed
	rt.metrics = cfg.Metrics
	cfg.Metrics.SetSource(rt.gauges)
	return rt
}

// SetEndpoint sets the engine's client URL that actors use to reach other
// actors. Call it before the runtime serves requests.
func (rt *Runtime) SetEndpoint(url string) { rt.endpoint = url }

func newRuntime(st Store, committer *store.Committer, defs map[string]Definition, runnerID string, limits Limits, log *slog.Logger) *Runtime {
	cfgs := make(map[string]*ActorConfig, len(defs))
	for name, d := range defs {
		c := d.Config()
		cfgs[name] = &c
	}
	return &Runtime{
		cfgs:      cfgs,
		store:     st,
		committer: committer,
		defs:      defs,
		runnerID:  runnerID,
		limits:    limits.WithDefaults(),
		log:       log,
		actors:    map[string]*Instance{},
	}
}

// config returns def's Config, shared by its instances.
func (rt *Runtime) config(def Definition) *ActorConfig {
	if c, ok := rt.cfgs[def.Name()]; ok {
		return c
	}
	c := def.Config()
	return &c
}

// client returns the shared engine client actors use to call each other.
func (rt *Runtime) client() *client.Client {
	rt.clientOnce.Do(func() {
		// Every request an actor makes through this client is a wait point
		// of the task that makes it (when its ctx is the task's Ctx): the
		// actor serves other work meanwhile, so A -> B -> A completes.
		hc := &http.Client{Transport: awaitTransport{base: http.DefaultTransport}}
		cl, err := client.New(client.Config{Endpoint: rt.endpoint, Encoding: client.EncodingCBOR, HTTPClient: hc})
		if err != nil {
			rt.log.Error("actor-to-actor client", "endpoint", rt.endpoint, "err", err)
			cl, _ = client.New(client.Config{Endpoint: "http://127.0.0.1:6420"})
		}
		rt.cl = cl
	})
	return rt.cl
}

// HasActor implements hostapi.Host.
func (rt *Runtime) HasActor(name string) bool {
	_, ok := rt.defs[name]
	return ok
}

// errStopping is returned by instance.enqueue while the instance stops; the
// caller waits for the stop and activates the actor again.
var errStopping = errors.New("instance is stopping")

// withInstance runs fn against the live instance of actorID, activating it
// when needed, and retries once the instance has stopped when fn found it
// stopping (sleep, drain): requests that race a stop wait instead of failing.
func (rt *Runtime) withInstance(ctx context.Context, t hostapi.Target, fn func(in *Instance) error) error {
	for {
		in, err := rt.instance(ctx, t)
		if err != nil {
			return err
		}
		err = fn(in)
		if !errors.Is(err, errStopping) {
			return err
		}
		select {
		case <-in.stopped():
		case <-ctx.Done():
			return errs.Stopping()
		}
	}
}

// instance returns the running instance of t, starting it if needed. With a
// placement generation (runner mode) an older instance is stopped first and a
// request for an older generation is refused as stale.
func (rt *Runtime) instance(ctx context.Context, t hostapi.Target) (*Instance, error) {
	if rt.placed && t.Generation == 0 {
		return nil, errs.InvalidRequest("a runner needs the placement generation")
	}
	for {
		rt.mu.Lock()
		if rt.closing {
			rt.mu.Unlock()
			return nil, errs.Stopping()
		}
		in := rt.actors[t.ActorID]
		if in != nil && t.Generation != 0 && in.gen != t.Generation {
			if in.gen > t.Generation {
				rt.mu.Unlock()
				return nil, errs.Stale()
			}
			// A newer placement exists: the old instance must go.
			rt.mu.Unlock()
			in.requestStop(stopFailed)
			select {
			case <-in.stopped():
				continue
			case <-ctx.Done():
				return nil, errs.Stopping()
			}
		}
		if in == nil && t.Generation != 0 {
			if e, ok := rt.ended[t.ActorID]; ok {
				if t.Generation <= e.gen {
					rt.mu.Unlock()
					if e.destroyed {
						return nil, hostapi.Gone()
					}
					return nil, errs.Stale()
				}
				delete(rt.ended, t.ActorID) // placed again since
			}
		}
		if in == nil {
			in = newInstance(rt, t.ActorID, t.Generation)
			rt.actors[t.ActorID] = in
			rt.wg.Add(2) // the instance, and start's goroutine
			// A gateway may leave the placement to this runner (see
			// hostapi.WithSelfPlace): the instance places itself on
			// generation t.Generation-1 as it loads its activation.
			go in.start(rt.placed && hostapi.SelfPlace(ctx))
		}
		rt.mu.Unlock()
		if !in.waitStarted(ctx) {
			return nil, errs.Starting()
		}
		if in.startErr != nil {
			return nil, in.startErr
		}
		in.mu.Lock()
		st := in.state
		in.mu.Unlock()
		if st == stateRunning {
			return in, nil
		}
		select {
		case <-in.stopped():
		case <-ctx.Done():
			return nil, errs.Stopping()
		}
	}
}

// remove drops in from the directory of live instances if it is still there.
func (rt *Runtime) remove(in *Instance) {
	rt.mu.Lock()
	if rt.actors[in.id] == in {
		delete(rt.actors, in.id)
	}
	rt.mu.Unlock()
}

// Action implements hostapi.Host.
func (rt *Runtime) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	var out []byte
	err := rt.withInstance(ctx, hostapi.Target{ActorID: req.ActorID, Generation: req.Generation}, func(in *Instance) error {
		var err error
		out, err = in.httpAction(ctx, req)
		return err
	})
	return out, err
}

// Connect implements hostapi.Host.
func (rt *Runtime) Connect(ctx context.Context, req hostapi.ConnectRequest, sink hostapi.Sink) (hostapi.Conn, error) {
	var c hostapi.Conn
	err := rt.withInstance(ctx, hostapi.Target{ActorID: req.ActorID, Generation: req.Generation}, func(in *Instance) error {
		var err error
		c, err = in.connect(ctx, req.Params, req.Request, sink)
		return err
	})
	return c, err
}

// Request implements hostapi.Host.
func (rt *Runtime) Request(ctx context.Context, t hostapi.Target, w http.ResponseWriter, r *http.Request) error {
	return rt.withInstance(ctx, t, func(in *Instance) error {
		return in.request(ctx, w, r)
	})
}

// WebSocket implements hostapi.Host.
func (rt *Runtime) WebSocket(ctx context.Context, t hostapi.Target, r *http.Request, ws hostapi.MessageConn) error {
	var sock *WebSocket
	err := rt.withInstance(ctx, t, func(in *Instance) error {
		var err error
		sock, err = in.openWebSocket(ctx, r, ws)
		return err
	})
	if err != nil {
		return err
	}
	sock.readLoop(ctx)
	return nil
}

// Destroy implements hostapi.Host.
func (rt *Runtime) Destroy(ctx context.Context, t hostapi.Target) error {
	actorID := t.ActorID
	a, err := rt.store.GetActor(ctx, actorID)
	if errors.Is(err, store.ErrNotFound) {
		return hostapi.Gone()
	}
	if err != nil {
		return errs.FromStore(err)
	}
	if a.Destroyed() {
		return hostapi.Gone()
	}
	def := rt.defs[a.Name]
	rt.mu.Lock()
	live := rt.actors[actorID]
	rt.mu.Unlock()
	if live == nil && (def == nil || !def.Config().HasDestroy) && !rt.placed {
		// Nothing runs and no hook needs to: destroy in the store directly.
		_, err := rt.store.DestroyActor(ctx, actorID)
		return errs.FromStore(err)
	}
	return rt.withInstance(ctx, t, func(in *Instance) error {
		return in.requestDestroy(ctx)
	})
}

// QueueSend implements hostapi.Host.
func (rt *Runtime) QueueSend(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	var res hostapi.QueueSendResponse
	err := rt.withInstance(ctx, hostapi.Target{ActorID: req.ActorID, Generation: req.Generation}, func(in *Instance) error {
		var err error
		res, err = in.queueSend(ctx, req)
		return err
	})
	return res, err
}

// Wake implements hostapi.Host.
func (rt *Runtime) Wake(ctx context.Context, t hostapi.Target) error {
	_, err := rt.instance(ctx, t)
	return err
}

func hostTarget(id string) hostapi.Target { return hostapi.Target{ActorID: id} }

// Stop implements hostapi.Host: the actor sleeps now (drain).
func (rt *Runtime) Stop(ctx context.Context, t hostapi.Target) error {
	rt.mu.Lock()
	in := rt.actors[t.ActorID]
	rt.mu.Unlock()
	if in == nil || (t.Generation != 0 && in.gen != t.Generation) {
		return nil
	}
	if !in.waitStarted(ctx) {
		return errs.Stopping()
	}
	in.requestStop(stopSleep)
	in.forceStop.Store(true)
	select {
	case <-in.stopped():
		return nil
	case <-ctx.Done():
		return errs.Stopping()
	}
}

// Close stops every instance (their onSleep runs and state is committed)
// and refuses new work.
func (rt *Runtime) Close(ctx context.Context) {
	rt.mu.Lock()
	rt.closing = true
	live := make([]*Instance, 0, len(rt.actors))
	for _, in := range rt.actors {
		live = append(live, in)
	}
	rt.mu.Unlock()
	for _, in := range live {
		in.requestStop(stopShutdown)
	}
	done := make(chan struct{})
	go func() { rt.wg.Wait(); close(done) }()
	select {
	case <-done:
		rt.sleeper.close()
	case <-ctx.Done():
		rt.log.Warn("shutdown: instances still stopping", "count", len(live))
	}
}

// fenceAll stops every instance without hooks or commits: this runner lost
// its lease and its actors may already run elsewhere.
func (rt *Runtime) fenceAll() {
	rt.mu.Lock()
	live := make([]*Instance, 0, len(rt.actors))
	for _, in := range rt.actors {
		live = append(live, in)
	}
	rt.mu.Unlock()
	for _, in := range live {
		in.requestStop(stopFailed)
	}
}
