package runner

import (
	"sync/atomic"
	"time"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// leaseGate is a runner's own view of its lease: gateways move the actors
// of a runner whose heartbeat_at is older than the lease, so the runner may
// serve only while its last successful heartbeat is recent. It counts from
// the moment that heartbeat was sent (heartbeat_at is set when it reached
// the database, so never earlier) and keeps a fifth of the lease as margin.
// An instance that outlives its runner's lease must not run another task:
// a newer activation may already serve the actor elsewhere, and even a read
// would then answer old state (the chaos harness found such stale reads
// after a PostgreSQL restart). A nil gate (the local engine) is always
// valid.
type leaseGate struct {
	base     time.Time     // monotonic origin
	validity time.Duration // 4/5 of the lease
	sent     atomic.Int64  // ns since base when the last successful heartbeat was sent
}

// newLeaseGate returns a gate whose lease counts from start (a time before
// the runner registered).
func newLeaseGate(lease time.Duration, start time.Time) *leaseGate {
	return &leaseGate{base: start, validity: lease * 4 / 5}
}

// valid reports whether the runner still holds its lease.
func (g *leaseGate) valid() bool {
	if g == nil {
		return true
	}
	return time.Since(g.base) < time.Duration(g.sent.Load())+g.validity
}

// renew records a successful heartbeat sent at sent.
func (g *leaseGate) renew(sent time.Time) {
	if d := sent.Sub(g.base); d > time.Duration(g.sent.Load()) {
		g.sent.Store(int64(d))
	}
}

// leaseErr refuses a task when the runner lost its lease, or when the
// instance was told to stop as failed (fenced): the task would run on an
// instance that may no longer be the actor's only one.
func (in *Instance) leaseErr() error {
	if !in.rt.lease.valid() {
		return errs.Stopping()
	}
	in.mu.Lock()
	k := in.stopReq
	in.mu.Unlock()
	if k != nil && *k == stopFailed {
		return errs.Stopping()
	}
	return nil
}
