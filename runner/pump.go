package runner

import (
	"context"
	"math"
	"sync"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
)

// delivery is one output of an actor: a frame to a client connection, a
// message on a raw WebSocket, or a reply handed to a waiting caller.
type delivery struct {
	conn   *Conn // frame target, with msg
	msg    protocol.ToClient
	ws     *WebSocket // raw websocket target, with binary/data
	binary bool
	data   []byte
	// fn is a generic release callback (err = commit failure). It may run
	// on the goroutine that pushes it (see pump), so it must not block and
	// the pusher must not hold a lock fn takes.
	fn        func(err error)
	closeConn error // with conn: close after sending (nil: just send)
	closing   bool
}

type outBatch struct {
	gate  *store.Pending
	items []delivery
}

// errPumpClosed is what outputs pushed after the pump closed get: the
// instance is gone and they were not released. A reply may have been
// produced by an action that ran, so it must not be retried blindly.
var errPumpClosed = errs.DroppedReply("The actor stopped before the reply was sent.")

// pump releases an actor's outputs in order, each batch only after the
// commit (gate) that covers it is durable: the output gate.
//
// A batch whose gate is already durable (or that has none), pushed while
// nothing is queued or being delivered, is delivered at once by the pushing
// goroutine: a read-only action's reply waits for nothing, so it skips a
// goroutine hop. Likewise a batch pushed then that waits for its commit is
// delivered by the commit's resolution (store.Pending.OnDone, on the
// committer's goroutine), which skips the hop to a waiting goroutine.
// Every other batch is queued, bounded by size, and a
// goroutine started on demand delivers the queue in order and exits once it
// is empty, so an idle actor holds neither a goroutine nor a buffer here.
type pump struct {
	in *Instance

	mu      sync.Mutex
	cond    sync.Cond // run waits for an inline delivery; push waits for space
	queue   fifo[outBatch]
	size    int32 // bound of queue (next to the flags: 128 bytes in all)
	busy    bool  // a batch is being delivered (by run or inline by push)
	running bool  // the run goroutine is live
	closed  bool
	exited  chan struct{} // made by close while run is live; closed when it exits
}

func newPump(in *Instance, size int) *pump {
	p := &pump{in: in, size: int32(min(size, math.MaxInt32))}
	p.cond.L = &p.mu
	return p
}

// push queues a batch. It blocks when the outbox is full, which backs
// pressure onto the mailbox; the pump only ever waits on commits.
func (p *pump) push(gate *store.Pending, items []delivery) {
	if gate != nil {
		select {
		case <-gate.Done():
			if gate.Err() == nil {
				gate = nil
			}
		default:
		}
	}
	p.mu.Lock()
	for !p.closed && p.queue.len() >= int(p.size) {
		p.cond.Wait()
	}
	if p.closed {
		p.mu.Unlock()
		for _, d := range items {
			if d.fn != nil {
				d.fn(errPumpClosed)
			}
		}
		return
	}
	if gate == nil && !p.busy && p.queue.len() == 0 && inlineSafe(items) {
		// Everything pushed before was delivered and nothing waits: in order.
		p.busy = true
		p.mu.Unlock()
		for _, d := range items {
			p.deliver(d, nil)
		}
		p.mu.Lock()
		p.busy = false
		if p.queue.len() > 0 {
			p.cond.Broadcast() // run waits for this delivery to end
		}
		p.mu.Unlock()
		return
	}
	if gate != nil && !p.busy && !p.running && p.queue.len() == 0 && inlineSafe(items) {
		// Idle, and this batch waits only for its own commit: deliver it
		// from the commit's resolution (on the committer's goroutine)
		// rather than from a goroutine started to wait for it. Until then
		// the pump counts as running, so later batches queue behind it.
		p.busy, p.running = true, true
		p.mu.Unlock()
		gate.OnDone(func() { p.deliverResolved(gate, items) })
		return
	}
	p.queue.push(outBatch{gate: gate, items: items})
	if !p.running {
		p.running = true
		go p.run()
	}
	p.mu.Unlock()
}

// deliverResolved delivers a batch whose gate has resolved (see push), then
// hands what queued meanwhile to the run goroutine, or ends running.
func (p *pump) deliverResolved(gate *store.Pending, items []delivery) {
	err := gate.Err() // resolved: does not wait
	for _, d := range items {
		p.deliver(d, err)
	}
	if err != nil {
		p.in.requestStop(stopFailed)
	}
	p.mu.Lock()
	p.busy = false
	if p.queue.len() > 0 {
		go p.run() // still running
	} else {
		p.running = false
		if p.exited != nil {
			close(p.exited)
			p.exited = nil
		}
	}
	p.mu.Unlock()
}

// inlineSafe reports whether items can be delivered on the pushing
// goroutine: replies and connection frames never block (hostapi.Sink), a
// raw WebSocket write may (closing a slow socket).
func inlineSafe(items []delivery) bool {
	for i := range items {
		if items[i].ws != nil {
			return false
		}
	}
	return true
}

func (p *pump) run() {
	p.mu.Lock()
	for {
		if p.queue.len() == 0 {
			p.running = false
			if p.exited != nil {
				close(p.exited)
				p.exited = nil
			}
			p.mu.Unlock()
			return
		}
		if p.busy {
			p.cond.Wait()
			continue
		}
		full := p.queue.len() >= int(p.size)
		b := p.queue.pop()
		p.busy = true
		if full {
			p.cond.Broadcast() // a push may wait for space
		}
		p.mu.Unlock()
		var err error
		if b.gate != nil {
			<-b.gate.Done()
			err = b.gate.Err()
		}
		for _, d := range b.items {
			p.deliver(d, err)
		}
		if err != nil {
			p.in.requestStop(stopFailed)
		}
		p.mu.Lock()
		p.busy = false
	}
}

func (p *pump) deliver(d delivery, err error) {
	switch {
	case d.fn != nil:
		d.fn(err)
	case d.conn != nil:
		if err != nil {
			d.conn.sink.Close(errs.FromStore(err))
			return
		}
		if d.closing {
			d.conn.sink.Close(d.closeConn)
			return
		}
		if !d.conn.sink.Send(d.msg) {
			d.conn.gone.Store(true)
		}
	case d.ws != nil:
		if err != nil {
			_ = d.ws.mc.Close(1011, "actor.internal_error")
			return
		}
		d.ws.enqueueWrite(d.binary, d.data)
	}
}

// close waits until everything pushed so far was delivered (or ctx is
// done). Later pushes are not delivered: their replies get dropped_reply.
func (p *pump) close(ctx context.Context) {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast() // a push waiting for space gives up
	if !p.running {
		p.mu.Unlock()
		return
	}
	if p.exited == nil {
		p.exited = make(chan struct{})
	}
	exited := p.exited
	p.mu.Unlock()
	select {
	case <-exited:
	case <-ctx.Done():
	}
}
