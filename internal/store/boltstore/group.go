package boltstore

import (
	"fmt"
	"sync"
)

// maxGroup bounds the calls one group transaction carries.
const maxGroup = 1024

// groupWriter runs small write transactions of many callers as one bbolt
// transaction: one commit (bbolt's two fsyncs) for all of them. There is
// no timer: a caller that finds no transaction running leads one at once
// with every call queued; calls that arrive while it commits queue up, and
// when it is done the first of them leads the next transaction with all
// of them. An idle store therefore commits a lone call with no added delay,
// and a busy one shares each commit among everything that arrived during
// the previous one. (bbolt's own Batch waits up to MaxBatchDelay for
// company instead, which a lone caller pays in full.)
//
// A function that fails rolls back the transaction it ran in; it is taken
// out and the rest run again in a new one, and the failed call then runs
// alone in its own transaction, so its error is its own. A function may
// therefore run more than once and must only assign its results.
//
// A call returns only after the transaction carrying it committed (fsynced)
// or failed.
type groupWriter struct {
	db Engine

	mu      sync.Mutex
	queue   []*groupCall
	leading bool // a caller is running a group transaction
}

type groupCall struct {
	fn func(tx Tx) error
	// wake gets one value: done (err is set), or lead (this call's goroutine
	// runs the next group), or solo (run fn alone).
	wake chan groupSignal
	err  error
}

type groupSignal int

const (
	groupDone groupSignal = iota
	groupLead
	groupSolo
)

// do runs fn in a group transaction and returns once it committed.
func (g *groupWriter) do(fn func(tx Tx) error) error {
	c := &groupCall{fn: fn, wake: make(chan groupSignal, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.leading {
		g.mu.Unlock()
		switch <-c.wake {
		case groupDone:
			return c.err
		case groupSolo:
			return g.db.Update(fn)
		}
		// groupLead: the previous leader handed the next group to us.
		g.mu.Lock()
	}
	g.leading = true
	n := min(len(g.queue), maxGroup)
	calls := append([]*groupCall(nil), g.queue[:n]...)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()

	solo := g.run(calls)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].wake <- groupLead
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	self := false
	for _, s := range solo {
		if s == c {
			self = true
		} else {
			s.wake <- groupSolo
		}
	}
	if self {
		return g.db.Update(fn)
	}
	return c.err
}

// run commits calls in one transaction, taking out the ones that fail
// (returned, to run alone), and tells every other caller but the leader
// its outcome. The leader is the call whose goroutine runs this; it reads
// its own err.
func (g *groupWriter) run(calls []*groupCall) (solo []*groupCall) {
	for len(calls) > 0 {
		failed := -1
		err := g.db.Update(func(tx Tx) error {
			for i, c := range calls {
				if err := safeCall(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			solo = append(solo, calls[failed])
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		for _, c := range calls {
			c.err = err
			select {
			case c.wake <- groupDone:
			default: // the leader's own call: nobody waits on wake
			}
		}
		return solo
	}
	return solo
}

// safeCall runs fn, turning a panic into an error (the call then runs
// alone, where the panic reaches its own caller).
func safeCall(fn func(tx Tx) error, tx Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in a group write: %v", r)
		}
	}()
	return fn(tx)
}
