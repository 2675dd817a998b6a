package runner

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/store"
)

// Wait points (the await model, docs/concurrency.md).
//
// A task holds its actor only while it runs Go code. At a wait point
// (Instance.Await: calls to other actors, user I/O, timers, Queue.Next) the
// task commits what it changed so far, lets go of the actor so other tasks
// run, and takes the actor back before it goes on. Code between two wait
// points is atomic with respect to the actor's other tasks.
//
// Mechanics. A task starts on the mailbox goroutine. At its first wait
// point it flushes (one fenced write through the group committer; outputs
// produced so far leave behind it), and the mailbox loop goes on on a new
// goroutine while the task's goroutine waits. To go on, the task queues a
// grant on the mailbox: when the mailbox runs it, the grant hands the
// actor to the waiting goroutine and blocks the mailbox until the task
// lets go again (its next wait point, or its end). The Run loop holds the
// actor through grants from the start. Exactly one goroutine holds the
// actor at any time, so the mailbox-owned state needs no lock; the hand
// over is a channel operation, which orders the memory accesses.

// hold is one logical task's claim on the actor. It is mailbox-owned:
// read and changed only by the goroutine that holds the actor.
type hold struct {
	// g is the grant the task holds the actor by; nil while the task runs
	// as the mailbox task itself, and while it waits.
	g *grant
	// detached is set when the task left the mailbox goroutine at a wait
	// point (the loop went on on a new goroutine).
	detached bool
	// lost is set when the task could not take the actor back (the
	// instance stopped): it must end without touching the actor.
	lost bool
	// waiting is set while the task is at a wait point.
	waiting bool
	// suspendable says the task may wait (actions, raw requests, the Run
	// loop); hooks and connection handling may not.
	suspendable bool
}

// grant is one hand-over of the mailbox to a goroutine that waits for it.
type grant struct {
	mu        sync.Mutex
	owner     *hold
	granted   bool
	abandoned bool
	ready     chan struct{}
	released  chan struct{}
}

// errNoWait is returned by a wait point used where the actor cannot wait.
var errNoWait = errors.New("runner: a wait point is only allowed in an action, a raw request, the Run loop or a workflow step")

// acquire queues a grant for h and waits until the mailbox hands the actor
// over (h.g is set) or stop ends first. The task then holds the actor until
// release.
func (in *Instance) acquire(h *hold, stop <-chan struct{}) error {
	g := &grant{owner: h, ready: make(chan struct{}), released: make(chan struct{})}
	err := in.enqueue(task{
		run: func() {
			g.mu.Lock()
			if g.abandoned {
				g.mu.Unlock()
				return
			}
			g.granted = true
			in.cur = g.owner
			close(g.ready)
			g.mu.Unlock()
			<-g.released
			// What the task did while it held the actor commits now, and
			// its outputs leave behind that commit.
			if _, err := in.flush(); err != nil {
				in.logger().Warn("commit after a hand-over", "err", err)
			}
		},
		abort: func(error) {
			g.mu.Lock()
			g.abandoned = true
			g.mu.Unlock()
			close(g.ready)
		},
	})
	if err != nil {
		return errStopping
	}
	select {
	case <-g.ready:
	case <-stop:
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.granted {
		h.g = g
		return nil
	}
	g.abandoned = true
	return errStopping
}

// release hands the actor back to the mailbox (h holds it by a grant).
func (in *Instance) release(h *hold) {
	if h.g != nil {
		in.cur = nil
		close(h.g.released)
		h.g = nil
	}
}

// letGo lets go of the actor at a wait point of h: it commits what the
// task changed so far (its outputs leave behind that commit) and returns
// the commit's gate; then it hands the actor back through h's grant or, on
// the mailbox goroutine, moves the loop to a new goroutine.
func (in *Instance) letGo(h *hold) (*store.Pending, error) {
	gate, err := in.flush()
	if err != nil {
		return nil, err
	}
	if h.g != nil {
		in.release(h)
		return gate, nil
	}
	h.detached = true
	in.cur = nil
	in.taskActive.Store(false)
	in.detachLoop()
	return gate, nil
}

// Await is a wait point: it commits what the running task changed so far,
// lets go of the actor, runs fn outside it (other tasks of the actor run
// meanwhile), and takes the actor back. The task sees the state as it is
// then. It must be called by the task holding the actor. fn's error is
// returned; when the actor stopped meanwhile Await returns actor/stopping
// and the task must return without touching the actor.
func (in *Instance) Await(ctx context.Context, fn func(ctx context.Context) error) error {
	return in.await(ctx, func(ctx context.Context, _ *store.Pending) error { return fn(ctx) })
}

// await is Await whose fn also gets the gate of the commit the wait point
// made (nil when nothing was ever committed): output that must follow the
// task's changes waits for it.
func (in *Instance) await(ctx context.Context, fn func(ctx context.Context, gate *store.Pending) error) error {
	h := in.cur
	if h == nil || h.waiting || !h.suspendable {
		return errNoWait
	}
	if in.dbs.txDepth > 0 {
		return errDBTxWait
	}
	if n := in.suspended.Add(1); n > int64(in.rt.limits.MaxSuspended) {
		in.suspended.Add(-1)
		return errs.Overloaded("too many tasks waiting")
	}
	defer in.suspended.Add(-1)
	gate, err := in.letGo(h)
	if err != nil {
		return err
	}
	h.waiting = true
	ferr := fn(ctx, gate)
	if err := in.acquire(h, in.lifetime().Done()); err != nil {
		h.lost = true
		return errs.Stopping()
	}
	h.waiting = false
	return ferr
}

// Wait is a timer wait point: the actor is free for d, or until ctx ends.
func (in *Instance) Wait(ctx context.Context, d time.Duration) error {
	return in.Await(ctx, func(ctx context.Context) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// Holding reports whether the goroutine running the current task still may
// touch the actor (false after a wait point at which the actor stopped).
func (h *hold) holding() bool { return !h.lost }

// endDetached ends a task that moved off the mailbox goroutine: it is no
// longer in flight, and the actor goes back to the mailbox (unless it was
// lost). The caller's goroutine then leaves the loop.
func (in *Instance) endDetached(h *hold) {
	in.mu.Lock()
	in.inflight--
	in.mu.Unlock()
	if !h.lost {
		in.release(h)
	}
}

// instanceKey is the context key under which the typed SDK's Ctx answers
// with its *Instance (see InstanceFrom).
type instanceKey struct{}

// InstanceKey is the context value key the typed SDK's Ctx answers with its
// *Instance, so that code given only a context (the actor's engine client)
// can find the actor whose task is running.
var InstanceKey any = instanceKey{}

// InstanceFrom returns the actor instance a task's context belongs to.
func InstanceFrom(ctx context.Context) (*Instance, bool) {
	in, ok := ctx.Value(InstanceKey).(*Instance)
	return in, ok
}

// AwaitOrRun is Await where the running task may wait; elsewhere (a hook,
// or a ctx that is not a task's) it runs fn while holding the actor.
func AwaitOrRun(ctx context.Context, fn func(ctx context.Context) error) error {
	in, ok := InstanceFrom(ctx)
	if !ok {
		return fn(ctx)
	}
	if h := in.cur; h == nil || h.waiting || !h.suspendable {
		return fn(ctx)
	}
	return in.Await(ctx, fn)
}

// awaitTransport makes each request of the actors' engine client a wait
// point of the task whose Ctx is the request's context.
type awaitTransport struct{ base http.RoundTripper }

func (t awaitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	err := AwaitOrRun(req.Context(), func(context.Context) error {
		var err error
		resp, err = t.base.RoundTrip(req)
		return err
	})
	if resp != nil && err != nil && resp.Body != nil {
		// The actor stopped while the request was out: drop the answer.
		_ = resp.Body.Close()
		resp = nil
	}
	return resp, err
}

// KeepAwake runs fn as a task of its own after the running one, with the
// same rules as an action (it holds the actor while it runs Go code and
// may wait), and keeps the actor awake until fn returns. fn's context ends
// when the actor stops. An error from fn is logged.
func (in *Instance) KeepAwake(fn func(ctx context.Context) error) error {
	return in.enqueue(task{
		wait: true,
		run: func() {
			h := in.cur
			err := in.hook(func() error { return fn(in.lifetime()) })
			if !h.holding() {
				return
			}
			if err != nil && in.lifetime().Err() == nil {
				in.logger().Warn("keep-awake task failed", "err", err)
			}
			if _, ferr := in.flush(); ferr != nil {
				in.logger().Warn("commit after keep-awake task", "err", ferr)
			}
		},
		abort: func(error) {},
	})
}
