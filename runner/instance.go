package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/latch"
	"github.com/rivetkube/rivetkube/internal/store"
)

type instState uint8

const (
	stateStarting instState = iota
	stateRunning
	stateStopping
	stateStopped
)

type stopKind int

const (
	stopSleep stopKind = iota
	stopShutdown
	stopDestroy
	stopFailed
)

func (k stopKind) String() string {
	return [...]string{"sleep", "shutdown", "destroy", "failed"}[k]
}

// task is one unit of mailbox work. abort is called instead of run when the
// instance stops before the task ran.
type task struct {
	run   func()
	abort func(error)
	// wait says the task may use wait points (see await.go).
	wait bool
}

// instance is one activation of an actor. Fields under "mailbox-owned" are
// touched only by the mailbox goroutine (and by start before it runs).
//
// An awake actor keeps its Instance for as long as it is awake, so its
// size is the biggest part of an idle actor's memory (issue 16): fields
// that most actors never use live behind pointers made on first use
// (pendingWrites, the stopped channel, the timers), small ones are packed.
type Instance struct {
	rt  *Runtime
	id  string
	gen uint64 // placement generation in runner mode; set by activate otherwise
	// lg is the actor's logger, made on first use (see logger).
	lg atomic.Pointer[slog.Logger]
	// starting holds a channel closed when start finished (startErr says
	// how), and nil from then on: an awake actor keeps no channel for it
	// (see waitStarted).
	starting latch.Latch
	// stopCh is closed when the instance has fully stopped; made on first
	// use under mu (see stopped).
	stopCh   chan struct{}
	startErr error

	mu sync.Mutex
	// forceStop makes a requested sleep happen even with open connections
	// and queued work (drain); the work is refused and retried elsewhere.
	forceStop atomic.Bool
	state     instState
	// looping is set while a goroutine runs the mailbox loop (or a task or
	// grant it runs); an idle actor's mailbox is parked: no goroutine.
	looping bool
	// alarmDue is set when the alarm timer fired; the loop fires what is due.
	alarmDue bool
	// mailbox-owned flags
	sleepWanted   bool
	destroyWanted bool
	inflight      int32 // tasks queued or running
	holds         int32 // open connections and raw websockets
	taskActive    atomic.Bool
	// tasks are the mailbox tasks not started yet, at most MailboxSize. The
	// buffer is allocated only while tasks wait: idle actors hold none.
	tasks   fifo[task]
	stopReq *stopKind

	// kick is set while the loop's goroutine lingers (see linger).
	kick chan struct{}
	// sleepAt is when the sleep timer armed last is due, as time since
	// monoEpoch (see armSleepLocked).
	sleepAt time.Duration
	// sleepKey and sleepPos are the instance's entry in the runtime's
	// sleeper (under the sleeper's lock): the deadline it went in with, and
	// its index in the heap plus one (0: not in it).
	sleepKey time.Duration
	sleepPos int32
	// alarmTimer (mailbox-owned) is made on first use; its callback only
	// sets a flag and starts the loop.
	alarmTimer *time.Timer
	pump       *pump
	// life is the lifetime context, made on first use; lifeEnded once it
	// ended (see lifetime.go).
	life atomic.Pointer[lifeCtx]

	// Set by start, read-only afterwards. The actor's name is def.Name()
	// and its generation gen (see Actor).
	key []string
	def Definition
	cfg *ActorConfig // shared by the definition's instances
	beh Behavior

	// tasksCtx are the contexts of running tasks (under mu; see taskctx.go).
	tasksCtx []taskCancel
	taskSeq  uint64

	// mailbox-owned
	vars      any
	lastState []byte
	gate      *store.Pending
	kv        kvState
	conns     map[string]*Conn
	outbuf    []delivery
	outMu     sync.Mutex
	queue     queueBuf
	// pw are the writes the running task queued besides state and KV
	// (queue acks, schedules, workflow steps), made on first use and
	// taken by flush.
	pw        *pendingWrites
	schedules map[string]store.Schedule
	run       *runLoop
	traces    traceRing
	// cur is the hold of the task holding the actor now (nil between
	// tasks and while the holder waits).
	cur *hold
	// suspended counts tasks at a wait point (bounded by MaxSuspended).
	suspended atomic.Int64
	// dbs is the SQL database (mailbox-owned; see db.go).
	dbs dbState
}

// pendingWrites are a task's writes other than state and KV, committed by
// the task's flush (mailbox-owned).
type pendingWrites struct {
	acks         []uint64
	schedPuts    []store.Schedule
	schedDels    []string
	wfPuts       []store.WorkflowStep
	wfPrefixDels []store.StepPrefix
}

// pending returns the task's pending writes, made on first use.
func (in *Instance) pending() *pendingWrites {
	if in.pw == nil {
		in.pw = &pendingWrites{}
	}
	return in.pw
}

// monoEpoch anchors Instance.sleepAt on the monotonic clock.
var monoEpoch = time.Now()

// closedChan is a closed channel, handed out for a stop already done.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// stopped returns a channel closed when the instance has fully stopped.
// It is made on first use: most awake actors are never waited for.
func (in *Instance) stopped() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopCh == nil {
		in.stopCh = make(chan struct{})
	}
	return in.stopCh
}

// markStopped wakes whoever waits in stopped, now and later: the
// instance has fully stopped.
func (in *Instance) markStopped() {
	in.mu.Lock()
	ch := in.stopCh
	in.stopCh = closedChan
	in.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

func newInstance(rt *Runtime, id string, gen uint64) *Instance {
	in := &Instance{
		rt:      rt,
		id:      id,
		gen:     gen,
		looping: true, // start runs the first loop
		// conns and schedules are made on first use.
	}
	in.starting.Close()
	return in
}

// start activates the actor: directory lookup, new generation, state load or
// creation, onWake. It then runs the mailbox loop until the mailbox is
// empty (see mailbox.go). The caller added two to rt.wg: one for this
// goroutine, one that the instance holds until it has stopped. place
// says the instance places itself (see activate).
func (in *Instance) start(place bool) {
	defer in.rt.wg.Done()
	err := in.activate(place)
	in.rt.metrics.Activation(err)
	if err != nil {
		in.startErr = err
		in.mu.Lock()
		in.state = stateStopped
		in.mu.Unlock()
		in.rt.remove(in)
		in.closeDB()
		in.cancelLifetime()
		in.started()
		in.markStopped()
		in.rt.wg.Done() // the instance's own count
		return
	}
	in.pump = newPump(in, in.rt.limits.OutboxSize)
	in.mu.Lock()
	in.state = stateRunning
	in.mu.Unlock()
	in.started()
	in.startRun()
	in.armAlarm()
	in.loop()
}

// started marks start finished and wakes whoever waits in waitStarted.
func (in *Instance) started() { in.starting.Open() }

// waitStarted waits until start finished (startErr says how); it reports
// false when ctx ended first.
func (in *Instance) waitStarted(ctx context.Context) bool { return in.starting.Wait(ctx) }

// activate loads the actor's activation and runs its wake hooks. With
// place (runner mode, hostapi.WithSelfPlace) it first places the actor on
// this runner with a compare-and-set on generation in.gen-1, in the same
// store round trip as the read (store.PlaceActivation); when the
// compare-and-set fails, the row read afterwards decides as without place
// (most often: a stale refusal, nothing having run).
func (in *Instance) activate(place bool) error {
	// Nothing cancels the lifetime before activate returns (only stop and a
	// failed start do), so the bound hangs off Background: a child of the
	// lifetime would leave the lifetime holding a children map and a done
	// channel for as long as the actor is awake (about 0.5 KiB).
	ctx, cancel := context.WithTimeout(context.Background(), in.rt.limits.StartTimeout)
	defer cancel()
	// One read (one round trip on PostgreSQL) for the row, the first queue
	// page, the schedules and the state.
	var (
		act store.Activation
		err error
	)
	if place && in.gen > 0 {
		act, err = in.rt.store.PlaceActivation(ctx, in.id, in.rt.runnerID, in.gen-1, queuePage)
		if errors.Is(err, store.ErrFenced) && !errors.Is(err, store.ErrDestroyed) {
			// Not placed by this call. Another gateway may have placed it
			// here at in.gen meanwhile: the row decides, as below.
			act, err = in.rt.store.LoadActivation(ctx, in.id, queuePage)
		}
	} else {
		act, err = in.rt.store.LoadActivation(ctx, in.id, queuePage)
	}
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrDestroyed) {
		return hostapi.Gone()
	}
	if err != nil {
		return errs.FromStore(err)
	}
	a := act.Actor
	if a.Destroyed() {
		return hostapi.Gone() // nothing ran: a gateway may resolve the key again
	}
	def, ok := in.rt.defs[a.Name]
	if !ok {
		return errs.NotConfigured(a.Name)
	}
	if in.rt.placed {
		// The gateway placed the actor here with generation in.gen; anything
		// else means the placement moved on and this request is stale.
		if a.Generation != in.gen || a.RunnerID != in.rt.runnerID {
			return errs.Stale()
		}
	} else {
		gen := a.Generation
		a, err = in.rt.store.Activate(ctx, in.id, in.rt.runnerID, 0)
		if err != nil {
			return errs.FromStore(err)
		}
		if a.Generation != gen+1 {
			// Another activation came between the read and Activate: what
			// was read may be stale. (Only one runtime activates in the
			// local engine, so this does not happen there.)
			if act, err = in.rt.store.LoadActivation(ctx, in.id, queuePage); err != nil {
				return errs.FromStore(err)
			}
		}
		in.mu.Lock()
		in.gen = a.Generation
		in.mu.Unlock()
	}
	in.key, in.def, in.cfg = a.Key, def, in.rt.config(def)
	in.beh = def.NewBehavior(in)
	if err := in.loadQueue(ctx, act.Queue); err != nil {
		return err
	}
	for _, sc := range act.Schedules {
		in.putSchedule(sc)
	}
	if !a.Initialized {
		if err := in.hook(func() error { return in.beh.Create(in.lifetime(), a.Input) }); err != nil {
			return fmt.Errorf("create state: %w", err)
		}
		st, err := in.beh.EncodeState()
		if err != nil {
			return err
		}
		p, err := in.rt.committer.Submit(ctx, store.Write{ActorID: in.id, Generation: a.Generation, State: st, Initialized: true})
		if err != nil {
			return errs.FromStore(err)
		}
		if err := waitPending(ctx, p); err != nil {
			return errs.FromStore(err)
		}
		in.lastState = st
	} else {
		st := act.State
		if err := in.beh.Load(st); err != nil {
			in.logger().Error("decode persisted state", "err", err)
			return errs.Internal()
		}
		in.lastState = st
	}
	if err := in.hook(func() error { return in.migrateDB(in.cfg.Migrate) }); err != nil {
		in.logger().Error("migrate actor database", "err", err)
		return errs.DBMigrationFailed()
	}
	if err := in.hook(func() error { return in.beh.Wake(in.lifetime()) }); err != nil {
		return err
	}
	if _, err := in.flush(); err != nil {
		return err
	}
	in.logger().Debug("actor awake")
	return nil
}

// logger returns the actor's logger (actor_id; actor_name and generation
// once activated). It is made on first use: most actors never log, and a
// logger with attributes costs a few hundred bytes per awake actor.
func (in *Instance) logger() *slog.Logger {
	if l := in.lg.Load(); l != nil {
		return l
	}
	l := in.rt.log.With("actor_id", in.id)
	if in.starting.IsOpen() && in.startErr == nil { // else activating: the name is not known yet
		l = l.With("actor_name", in.def.Name(), "generation", in.gen)
		in.lg.CompareAndSwap(nil, l)
		return in.lg.Load()
	}
	return l
}

// hook runs user code on the current goroutine, turning a panic into an error.
func (in *Instance) hook(fn func() error) (err error) {
	in.taskActive.Store(true)
	defer in.taskActive.Store(false)
	defer func() {
		if r := recover(); r != nil {
			err = in.panicked("hook", r)
		}
	}()
	return fn()
}

func waitPending(ctx context.Context, p *store.Pending) error {
	if p == nil {
		return nil
	}
	select {
	case <-p.Done():
		return p.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue queues t on the mailbox. It fails with errStopping when the
// instance is stopping and with actor/overloaded when the mailbox is full.
func (in *Instance) enqueue(t task) error {
	in.mu.Lock()
	if in.state != stateRunning {
		in.mu.Unlock()
		return errStopping
	}
	if in.tasks.len() >= in.rt.limits.MailboxSize {
		in.mu.Unlock()
		return errs.Overloaded("mailbox is full")
	}
	in.tasks.push(t)
	in.inflight++
	start := in.unparkLocked()
	in.mu.Unlock()
	if start {
		in.goLoop()
	}
	return nil
}

// dequeue takes the oldest queued task.
func (in *Instance) dequeue() (task, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.tasks.len() == 0 {
		return task{}, false
	}
	return in.tasks.pop(), true
}

// requestStop asks the mailbox loop to stop the instance.
func (in *Instance) requestStop(k stopKind) {
	in.mu.Lock()
	if in.stopReq == nil || k > *in.stopReq {
		in.stopReq = &k
	}
	rl := in.run
	start := in.unparkLocked()
	in.mu.Unlock()
	if rl != nil && (k != stopSleep || in.forceStop.Load()) {
		// A Run loop holding the actor must let go for the stop to begin.
		rl.cancel()
	}
	if start {
		in.goLoop()
	}
}

func (in *Instance) sleepTimeout() time.Duration {
	if in.cfg.SleepTimeout > 0 {
		return in.cfg.SleepTimeout
	}
	return in.rt.limits.SleepTimeout
}

func (in *Instance) actionTimeout() time.Duration {
	if in.cfg.ActionTimeout > 0 {
		return in.cfg.ActionTimeout
	}
	return in.rt.limits.ActionTimeout
}

// idleLocked reports whether nothing keeps the actor awake: no queued or
// running task, no connection, and no message waiting for its Run loop.
// in.mu is held.
func (in *Instance) idleLocked() bool {
	return in.inflight == 0 && in.holds == 0 && !(in.run != nil && in.queue.len() > 0)
}

// runTask runs t on the mailbox. It reports whether t left the mailbox
// goroutine at a wait point; the caller's goroutine then leaves the loop
// (it ran on after t ended elsewhere).
func (in *Instance) runTask(t task) (detached bool) {
	if err := in.gateErr(); err != nil {
		t.abort(err)
		in.requestStop(stopFailed)
		return false
	}
	if err := in.leaseErr(); err != nil {
		t.abort(err)
		in.requestStop(stopFailed)
		return
	}
	h := &hold{suspendable: t.wait}
	in.cur = h
	in.taskActive.Store(true)
	t.run()
	if h.detached {
		in.endDetached(h)
		return true
	}
	in.cur = nil
	in.taskActive.Store(false)
	return false
}

// gateErr reports a failed earlier commit: the instance must not go on.
func (in *Instance) gateErr() error {
	if in.gate == nil {
		return nil
	}
	select {
	case <-in.gate.Done():
		if err := in.gate.Err(); err != nil {
			return errs.FromStore(err)
		}
	default:
	}
	return nil
}

// flush commits what the finished task changed (state and KV) and releases
// the task's outputs behind that commit. It returns the gate outputs wait
// for (nil when nothing is pending).
func (in *Instance) flush() (*store.Pending, error) {
	st, err := in.beh.EncodeState()
	if err != nil {
		in.logger().Error("encode state", "err", err)
		in.rollbackState()
		in.releaseOutputs()
		return in.gate, errs.Internal()
	}
	changed := !bytes.Equal(st, in.lastState)
	if changed && in.beh.HasStateChange() {
		_ = in.hook(func() error { in.beh.StateChanged(in.lifetime()); return nil })
		if st2, err := in.beh.EncodeState(); err == nil {
			st = st2
		}
	}
	if changed && len(st) > in.rt.limits.MaxStateSize {
		in.logger().Warn("state over limit, change rolled back", "size", len(st), "limit", in.rt.limits.MaxStateSize)
		in.rollbackState()
		in.kv.discardTask()
		in.dbDiscard()
		in.releaseOutputs()
		return in.gate, errs.StateTooLarge(len(st), in.rt.limits.MaxStateSize)
	}
	dbw, dbSeq, err := in.dbTake()
	if err != nil {
		in.rollbackState()
		in.kv.discardTask()
		in.releaseOutputs()
		return in.gate, err
	}
	puts, dels := in.kv.takeTask()
	var pw pendingWrites
	if in.pw != nil {
		pw, in.pw = *in.pw, nil
	}
	if changed || len(puts) > 0 || len(dels) > 0 || len(pw.acks) > 0 || len(pw.schedPuts) > 0 || len(pw.schedDels) > 0 ||
		len(pw.wfPuts) > 0 || len(pw.wfPrefixDels) > 0 || dbw != nil {
		w := store.Write{ActorID: in.id, Generation: in.gen, Puts: puts, Deletes: dels,
			QueueAcks: pw.acks, SchedulePuts: pw.schedPuts, ScheduleDeletes: pw.schedDels, WorkflowSteps: pw.wfPuts,
			StepPrefixDeletes: pw.wfPrefixDels, DB: dbw}
		if changed {
			w.State = st
		}
		// Bounded, not tied to the lifetime: nothing cancels the lifetime
		// while the actor is held (only the stop sequence and a failed
		// start do), and a child would stay in the lifetime's map.
		ctx, cancel := context.WithTimeout(context.Background(), in.rt.limits.StopTimeout)
		p, err := in.rt.committer.Submit(ctx, w)
		cancel()
		if err != nil {
			in.releaseOutputs()
			in.requestStop(stopFailed)
			return in.gate, errs.FromStore(err)
		}
		in.gate = p
		in.lastState = st
		in.kv.committed(p)
		if dbw != nil {
			in.dbCommitted(p, dbSeq)
		}
	}
	in.releaseOutputs()
	return in.gate, nil
}

func (in *Instance) rollbackState() {
	if err := in.beh.Load(in.lastState); err != nil {
		in.logger().Error("roll back state", "err", err)
	}
}

// emit buffers an output produced by the running task; it leaves after the
// task's commit. Outside a task it is released behind the latest commit.
func (in *Instance) emit(d delivery) {
	if in.taskActive.Load() {
		in.outMu.Lock()
		in.outbuf = append(in.outbuf, d)
		in.outMu.Unlock()
		return
	}
	if in.pump != nil {
		in.pump.push(in.gate, []delivery{d})
	}
}

func (in *Instance) releaseOutputs() {
	in.outMu.Lock()
	out := in.outbuf
	in.outbuf = nil
	in.outMu.Unlock()
	if len(out) > 0 && in.pump != nil {
		in.pump.push(in.gate, out)
	}
}

// stop runs the stop sequence of kind k on the mailbox goroutine.
func (in *Instance) stop(k stopKind) {
	log := in.logger().With("reason", k.String())
	ctx, cancel := context.WithTimeout(context.Background(), in.rt.limits.StopTimeout)
	defer cancel()
	in.stopTimers()
	// The Run loop ends first (it cannot hold the actor now: stop runs on
	// the mailbox), then queued work fails: callers retry against the next
	// activation.
	in.stopRun(ctx)
	in.drainMailbox(errStopping)

	var closeErr error
	switch k {
	case stopDestroy:
		closeErr = errs.DestroyedClose()
	case stopFailed:
		closeErr = errs.Stopping()
	default:
		closeErr = errs.GoingAway()
	}
	for _, c := range in.conns {
		in.closeConn(c, closeErr, k != stopFailed)
	}
	switch k {
	case stopSleep, stopShutdown:
		if err := in.hook(func() error { return in.beh.Sleep(in.lifetime()) }); err != nil {
			log.Warn("onSleep failed", "err", err)
		}
		if _, err := in.flush(); err != nil {
			log.Warn("final flush failed", "err", err)
		}
		if err := waitPending(ctx, in.gate); err != nil {
			log.Error("final commit failed; state rolls back to the last commit", "err", err)
		} else if err := in.rt.store.Deactivate(ctx, in.id, in.gen); err != nil && !errors.Is(err, store.ErrFenced) {
			log.Warn("deactivate", "err", err)
		} else if err == nil {
			in.rt.noteEnded(in.id, in.gen, false)
		}
	case stopDestroy:
		if err := in.hook(func() error { return in.beh.Destroy(in.lifetime()) }); err != nil {
			log.Warn("onDestroy failed", "err", err)
		}
		in.releaseOutputs()
		_ = waitPending(ctx, in.gate)
		if _, err := in.rt.store.DestroyActor(ctx, in.id); err != nil {
			log.Error("destroy", "err", err)
		} else {
			in.rt.noteEnded(in.id, in.gen, true)
		}
	case stopFailed:
		in.releaseOutputs()
	}
	// Outputs already released still drain; then the instance is gone.
	in.closeDB()
	in.pump.close(ctx)
	in.rt.remove(in)
	in.mu.Lock()
	in.state = stateStopped
	in.mu.Unlock()
	in.cancelLifetime()
	in.drainMailbox(errStopping)
	in.markStopped()
	in.rt.metrics.Stop(stopReason(k, in.forceStop.Load()))
	log.Debug("actor stopped")
	in.rt.wg.Done() // the instance's own count (see start)
}

func (in *Instance) drainMailbox(err error) {
	for {
		t, ok := in.dequeue()
		if !ok {
			return
		}
		t.abort(err)
		in.mu.Lock()
		in.inflight--
		in.mu.Unlock()
	}
}

// requestDestroy queues a destroy and waits until the actor is gone.
func (in *Instance) requestDestroy(ctx context.Context) error {
	res := make(chan error, 1)
	err := in.enqueue(task{
		run:   func() { in.destroyWanted = true; res <- nil },
		abort: func(e error) { res <- e },
	})
	if err != nil {
		return err
	}
	select {
	case err := <-res:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return errs.Stopping()
	}
	select {
	case <-in.stopped():
		return nil
	case <-ctx.Done():
		return errs.Stopping()
	}
}
