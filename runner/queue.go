package runner

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// Message is a message taken from one of the actor's durable queues.
//
// Delivery is at least once: a message is removed from the queue only by
// the commit that follows Complete (or the next call to Next), together
// with the state changes made while handling it. If the instance stops
// before that commit, the message is delivered again on the next
// activation, with the same ID. State changes and the removal commit
// atomically, so effects on the actor's own state and KV happen once;
// effects outside the actor (calls to other services) should be made
// idempotent with ID as the key.
type Message struct {
	id   uint64
	name string
	body Raw
	q    *Queue
	done bool
}

// ID is the message's sequence number: unique per actor, stable across
// redeliveries, increasing in send order.
func (m *Message) ID() uint64 { return m.id }

// Name is the queue the message was sent to.
func (m *Message) Name() string { return m.name }

// Body is the message body.
func (m *Message) Body() Raw { return m.body }

// Decode decodes the body into v.
func (m *Message) Decode(v any) error { return m.body.Decode(v) }

// Complete marks the message handled and answers a sender that waits for
// it with response (nil for none). The answer leaves after the commit that
// removes the message.
func (m *Message) Complete(response any) error {
	if m.done {
		return nil
	}
	b, err := Marshal(response)
	if err != nil {
		return err
	}
	m.done = true
	m.q.in.ack(m.id, b)
	return nil
}

// Queue is the actor's view of its durable queues, used from the Run loop.
type Queue struct {
	in *Instance
	rl *runLoop
}

// Next blocks until a message of one of names (any queue when none) is
// available, or ctx is done. While it waits the actor serves actions and
// other work; when it returns the Run loop holds the actor again. Calling
// Next completes the previous message if Complete was not called.
func (q *Queue) Next(ctx context.Context, names ...string) (*Message, error) {
	if q.rl == nil {
		return nil, errors.New("rivet: Queue.Next is only available in the Run loop")
	}
	in := q.in
	if prev := q.rl.current; prev != nil && !prev.done {
		_ = prev.Complete(nil)
	}
	q.rl.current = nil
	q.rl.release()
	for {
		m, wait := in.queue.take(names)
		if m != nil {
			if err := q.rl.acquire(ctx); err != nil {
				in.queue.putBack(m)
				return nil, err
			}
			msg := &Message{id: m.Seq, name: m.Name, body: Raw(m.Body), q: q}
			q.rl.current = msg
			return msg, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			// Reacquire so the Run loop's code after Next still holds the actor.
			if err := q.rl.acquire(context.Background()); err != nil {
				return nil, err
			}
			return nil, ctx.Err()
		}
	}
}

// Len returns how many messages wait (not yet taken by Next).
func (q *Queue) Len() int { return q.in.queue.len() }

// queueBuf is the in-memory view of the actor's undelivered messages.
type queueBuf struct {
	mu   sync.Mutex
	msgs []store.QueueMessage // sorted by Seq
	// notify is made by a taker that found nothing and closed (and
	// dropped) when messages arrive; waiters is made on first use. An
	// actor that never uses its queue holds neither.
	notify  chan struct{}
	waiters map[uint64]chan []byte
}

// add inserts the messages not buffered yet, in sequence order, and wakes
// Next. Concurrent senders may add out of sequence order (their store
// writes finished in one order, their adds run in the other): a message
// with a lower sequence than one already buffered must still be added.
// (A high-water mark used to drop it as already seen; it then waited in
// the store until the next activation and its waiting sender timed out.
// Found by the chaos harness.)
func (b *queueBuf) add(ms ...store.QueueMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	added := false
	for _, m := range ms {
		if b.insert(m) {
			added = true
		}
	}
	if added && b.notify != nil {
		close(b.notify)
		b.notify = nil
	}
}

// insert puts m at its place in msgs (kept sorted by Seq) unless it is
// there already. b.mu is held.
func (b *queueBuf) insert(m store.QueueMessage) bool {
	i, found := slices.BinarySearchFunc(b.msgs, m.Seq, func(x store.QueueMessage, seq uint64) int { return cmp.Compare(x.Seq, seq) })
	if found {
		return false
	}
	b.msgs = slices.Insert(b.msgs, i, m)
	return true
}

// take removes the first message matching names, or returns a channel
// closed when more arrive.
func (b *queueBuf) take(names []string) (*store.QueueMessage, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, m := range b.msgs {
		if len(names) == 0 || slices.Contains(names, m.Name) {
			b.msgs = slices.Delete(b.msgs, i, i+1)
			return &m, nil
		}
	}
	if b.notify == nil {
		b.notify = make(chan struct{})
	}
	return nil, b.notify
}

func (b *queueBuf) putBack(m *store.QueueMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.insert(*m)
}

func (b *queueBuf) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func (b *queueBuf) waiter(seq uint64) chan []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan []byte, 1)
	if b.waiters == nil {
		b.waiters = map[uint64]chan []byte{}
	}
	b.waiters[seq] = ch
	return ch
}

func (b *queueBuf) dropWaiter(seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.waiters, seq)
}

func (b *queueBuf) answer(seq uint64, resp []byte) {
	b.mu.Lock()
	ch := b.waiters[seq]
	delete(b.waiters, seq)
	b.mu.Unlock()
	if ch != nil {
		ch <- resp
	}
}

// ack records a handled message (mailbox only): it is removed by the next
// commit, and its waiting sender is answered after that commit.
func (in *Instance) ack(seq uint64, resp []byte) {
	pw := in.pending()
	pw.acks = append(pw.acks, seq)
	in.emit(delivery{fn: func(err error) {
		if err == nil {
			in.queue.answer(seq, resp)
		}
	}})
}

// queuePage is how many queued messages one read at activation returns.
const queuePage = 256

// loadQueue fills the buffer at activation from first, the first page read
// with the actor, and the store for the pages after it.
func (in *Instance) loadQueue(ctx context.Context, first []store.QueueMessage) error {
	ms := first
	for {
		in.queue.add(ms...)
		if len(ms) < queuePage {
			return nil
		}
		var err error
		if ms, err = in.rt.store.ListQueue(ctx, in.id, ms[len(ms)-1].Seq, nil, queuePage); err != nil {
			return errs.FromStore(err)
		}
	}
}

// queueFullErr is the actor/overloaded shape the RivetKit client expects
// for a full queue.
func queueFullErr(limit int) *errs.Error {
	e := errs.Overloaded("queue holds its limit of messages")
	e.Message = "Actor queue is full (limit " + strconv.Itoa(limit) + " messages)."
	if md, err := Marshal(map[string]string{"channel": "dispatch_inbox", "operation": "dispatch_queue_send"}); err == nil {
		e.Metadata = md
	}
	return e
}

// queueSend durably enqueues and, when asked, waits for the completion.
func (in *Instance) queueSend(ctx context.Context, req hostapi.QueueSendRequest) (hostapi.QueueSendResponse, error) {
	if !in.cfg.hasQueue(req.Queue) {
		return hostapi.QueueSendResponse{}, errs.QueueNotFound(req.Queue)
	}
	limit := in.cfg.MaxQueue
	if limit <= 0 {
		limit = in.rt.limits.MaxQueue
	}
	// Keep the actor awake from the store write until the message is in
	// its buffer (and, when waiting, until the answer comes).
	if !in.hold() {
		return hostapi.QueueSendResponse{}, errStopping
	}
	defer in.unhold()
	m, err := in.rt.store.Enqueue(ctx, in.id, req.Queue, req.Body, limit)
	if errors.Is(err, store.ErrQueueFull) {
		return hostapi.QueueSendResponse{}, queueFullErr(limit)
	}
	if errors.Is(err, store.ErrInvalid) {
		return hostapi.QueueSendResponse{}, errs.InvalidRequest("invalid queue message: %v", err)
	}
	if err != nil {
		return hostapi.QueueSendResponse{}, errs.FromStore(err)
	}
	var ch chan []byte
	if req.Wait {
		ch = in.queue.waiter(m.Seq)
	}
	in.queue.add(m)
	in.poke()
	if !req.Wait {
		return hostapi.QueueSendResponse{Completed: true}, nil
	}
	wctx := ctx
	if req.Timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, req.Timeout)
		defer cancel()
	}
	select {
	case resp := <-ch:
		return hostapi.QueueSendResponse{Completed: true, Response: resp}, nil
	case <-wctx.Done():
		in.queue.dropWaiter(m.Seq)
		return hostapi.QueueSendResponse{Completed: false}, nil
	case <-in.stopped():
		in.queue.dropWaiter(m.Seq)
		return hostapi.QueueSendResponse{Completed: false}, nil
	}
}

// hold keeps a running instance awake until unhold; false if it stops.
func (in *Instance) hold() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.state != stateRunning {
		return false
	}
	in.holds++
	return true
}

func (in *Instance) unhold() {
	in.mu.Lock()
	in.holds--
	in.mu.Unlock()
	in.poke()
}

// poke re-evaluates idleness after something let go of the actor: if it
// is idle now, its sleep countdown starts again.
func (in *Instance) poke() {
	in.mu.Lock()
	in.armSleepLocked()
	in.mu.Unlock()
}

// runLoop runs the actor's Run function on its own goroutine. The Run code
// holds the actor (as an action would) through grants (await.go), except
// at wait points (Queue.Next, timers, calls, Await).
type runLoop struct {
	in      *Instance
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	h       *hold
	current *Message
}

// acquire waits until the mailbox hands the actor to the Run goroutine, or
// ctx or the Run loop's context ends first.
func (rl *runLoop) acquire(ctx context.Context) error {
	stop := rl.ctx.Done()
	if ctx.Done() != nil {
		merged, cancel := context.WithCancel(rl.ctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		stop = merged.Done()
	}
	if err := rl.in.acquire(rl.h, stop); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errStopping
	}
	return nil
}

// release hands the mailbox back.
func (rl *runLoop) release() { rl.in.release(rl.h) }

// startRun starts the Run loop after activation (when the actor has one).
func (in *Instance) startRun() {
	if !in.beh.HasRun() {
		return
	}
	ctx, cancel := context.WithCancel(in.lifetime())
	rl := &runLoop{in: in, ctx: ctx, cancel: cancel, done: make(chan struct{}), h: &hold{suspendable: true}}
	in.mu.Lock()
	in.run = rl
	in.mu.Unlock()
	go func() {
		defer close(rl.done)
		if err := rl.acquire(ctx); err != nil {
			return
		}
		defer rl.release()
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = in.panicked("run", r)
				}
			}()
			return in.beh.Run(ctx, &Queue{in: in, rl: rl})
		}()
		if err != nil && ctx.Err() == nil && !errors.Is(err, errActorPanicked) {
			in.logger().Warn("run loop returned an error", "err", err)
		}
	}()
}

// stopRun cancels the Run loop and waits (bounded) for it to end. It runs
// on the mailbox goroutine, so the Run goroutine cannot hold the mailbox.
func (in *Instance) stopRun(ctx context.Context) {
	rl := in.run
	if rl == nil {
		return
	}
	rl.cancel()
	// Let a pending acquire see the cancellation.
	in.drainMailbox(errStopping)
	select {
	case <-rl.done:
	case <-ctx.Done():
		in.logger().Warn("run loop did not return after its context was cancelled")
	case <-time.After(in.rt.limits.StopTimeout):
	}
}
