package rivet

import (
	"context"

	"github.com/rivetkube/rivetkube/internal/protocol"
	"github.com/rivetkube/rivetkube/internal/store"
)

// delivery is one output of an actor: a frame to a client connection, a
// message on a raw WebSocket, or a reply handed to a waiting caller.
type delivery struct {
	conn      *Conn // frame target, with msg
	msg       protocol.ToClient
	ws        *WebSocket // raw websocket target, with binary/data
	binary    bool
	data      []byte
	fn        func(err error) // generic release callback (err = commit failure)
	closeConn error           // with conn: close after sending (nil: just send)
	closing   bool
}

type outBatch struct {
	gate  *store.Pending
	items []delivery
}

// pump releases an actor's outputs in order, each batch only after the
// commit (gate) that covers it is durable: the output gate.
type pump struct {
	in   *instance
	ch   chan outBatch
	done chan struct{}
}

func newPump(in *instance, size int) *pump {
	p := &pump{in: in, ch: make(chan outBatch, size), done: make(chan struct{})}
	go p.run()
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
	p.ch <- outBatch{gate: gate, items: items}
}

func (p *pump) run() {
	defer close(p.done)
	for b := range p.ch {
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
	}
}

func (p *pump) deliver(d delivery, err error) {
	switch {
	case d.fn != nil:
		d.fn(err)
	case d.conn != nil:
		if err != nil {
			d.conn.sink.Close(storeErr(err))
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

// close waits until everything pushed so far was delivered.
func (p *pump) close(ctx context.Context) {
	close(p.ch)
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}
