package link

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// putMode says what enqueueing does when the link's outbound queue is full.
type putMode int

const (
	// putTry fails with errQueueFull: for senders that must not block
	// (Sink.Send, Conn.Receive, raw WebSocket messages).
	putTry putMode = iota
	// putWait waits for room until the ctx ends: calls and their replies.
	putWait
	// putMust ignores the bound: small control frames (cancel, close,
	// errors), at most a few per stream, which must not be lost.
	putMust
)

var (
	errQueueFull  = errors.New("link: outbound queue is full")
	errQueueClose = errors.New("link: closed")
)

// qent is one encoded frame waiting for the writer. pend, when set, is the
// per-stream count of frames not yet written, decremented once written.
type qent struct {
	b    []byte
	pend *atomic.Int32
}

// outq is the bounded outbound queue of one link, drained by its single
// writer goroutine. The bound is in bytes; a frame always fits an empty
// queue.
type outq struct {
	mu      sync.Mutex
	q       []qent
	spare   []qent
	bytes   int64
	max     int64
	closed  bool
	waiting int
	space   chan struct{} // closed (and replaced) when room frees, if anyone waits
	wake    chan struct{} // cap 1: wakes the writer
}

func newOutq(max int64) *outq {
	return &outq{max: max, space: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (o *outq) put(ctx context.Context, e qent, mode putMode) error {
	n := int64(len(e.b))
	o.mu.Lock()
	for {
		if o.closed {
			o.mu.Unlock()
			return errQueueClose
		}
		if mode == putMust || o.bytes == 0 || o.bytes+n <= o.max {
			break
		}
		if mode == putTry {
			o.mu.Unlock()
			return errQueueFull
		}
		if err := o.awaitSpace(ctx); err != nil {
			return err
		}
	}
	if e.pend != nil {
		e.pend.Add(1)
	}
	o.q = append(o.q, e)
	o.bytes += n
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// awaitSpace waits, with o.mu held, until written frames free room or ctx
// ends. It returns with o.mu held, or with it released and ctx's error.
func (o *outq) awaitSpace(ctx context.Context) error {
	ch := o.space
	o.waiting++
	o.mu.Unlock()
	select {
	case <-ch:
		o.mu.Lock()
		o.waiting--
		return nil
	case <-ctx.Done():
		o.mu.Lock()
		o.waiting--
		o.mu.Unlock()
		return ctx.Err()
	}
}

// take removes every queued frame (writer only).
func (o *outq) take() []qent {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.q) == 0 {
		return nil
	}
	q := o.q
	o.q = o.spare[:0]
	o.spare = nil
	return q
}

// written returns batch (as taken) to the queue's accounting.
func (o *outq) written(batch []qent) {
	var n int64
	for i := range batch {
		n += int64(len(batch[i].b))
		if p := batch[i].pend; p != nil {
			p.Add(-1)
		}
		batch[i] = qent{}
	}
	o.mu.Lock()
	o.bytes -= n
	if o.spare == nil {
		o.spare = batch[:0]
	}
	if o.waiting > 0 {
		close(o.space)
		o.space = make(chan struct{})
	}
	o.mu.Unlock()
}

// empty reports whether everything queued has been written.
func (o *outq) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes == 0
}

// close refuses further frames and releases every waiter.
func (o *outq) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	o.q = nil
	close(o.space)
	o.space = make(chan struct{})
}

// serial runs functions one at a time, in order, on a goroutine that exists
// only while there is work. It keeps per-stream order without blocking
// the link's reader on a slow host. The queue is bounded by max; pushMust
// ignores the bound.
type serial struct {
	mu      sync.Mutex
	q       []func()
	running bool
	max     int
	wg      *sync.WaitGroup
}

func (s *serial) push(fn func(), must bool) bool {
	s.mu.Lock()
	if !must && len(s.q) >= s.max {
		s.mu.Unlock()
		return false
	}
	s.q = append(s.q, fn)
	if s.running {
		s.mu.Unlock()
		return true
	}
	s.running = true
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run()
	return true
}

func (s *serial) run() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.running = false
			s.q = nil
			s.mu.Unlock()
			return
		}
		fn := s.q[0]
		s.q[0] = nil
		s.q = s.q[1:]
		s.mu.Unlock()
		fn()
	}
}
