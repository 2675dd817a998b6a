// Package latch is a gate that goroutines wait on until it opens, costing
// one pointer while open (an awake actor keeps one for its whole life).
package latch

import (
	"context"
	"sync/atomic"
)

// Latch is open in its zero value. Close makes Wait block until Open.
type Latch struct{ ch atomic.Pointer[chan struct{}] }

// Close makes later waiters block until Open.
func (l *Latch) Close() {
	ch := make(chan struct{})
	l.ch.Store(&ch)
}

// Open releases every waiter; it is a no-op on an open latch.
func (l *Latch) Open() {
	if ch := l.ch.Swap(nil); ch != nil {
		close(*ch)
	}
}

// IsOpen reports whether Wait would return at once.
func (l *Latch) IsOpen() bool { return l.ch.Load() == nil }

// Wait waits until the latch is open; it reports false when ctx ended
// first.
func (l *Latch) Wait(ctx context.Context) bool {
	ch := l.ch.Load()
	if ch == nil {
		return true
	}
	select {
	case <-*ch:
		return true
	case <-ctx.Done():
		return false
	}
}
