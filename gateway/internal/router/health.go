package router

import (
	"errors"
	"sync"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// versionHealth counts, per pool version, the requests this gateway
// routed to runners and how many failed inside the engine or the actor
// (actor/internal_error, actor/action_timed_out). Errors that mean "try
// again" (the actor moving), user errors and gone actors are not failures.
// The counts are cumulative since the gateway started and cover this
// gateway's share of the traffic: the rate, not the totals, is what a
// rollout gate compares.
type versionHealth struct {
	mu sync.Mutex
	m  map[healthKey]*healthCount
}

type healthKey struct {
	pool    string
	version uint64
}

type healthCount struct{ calls, failed int64 }

// note records the outcome err of one request served by a runner of pool
// at version.
func (h *versionHealth) note(pool string, version uint64, err error) {
	if err != nil && (retryable(err) || errors.Is(err, errRetry) || errors.Is(err, errs.ErrDroppedReply)) {
		return // not an outcome: the request is retried or its fate unknown
	}
	failed := err != nil && (errors.Is(err, errs.Internal()) || errors.Is(err, errs.ActionTimedOut()))
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[healthKey]*healthCount{}
	}
	k := healthKey{pool, version}
	c := h.m[k]
	if c == nil {
		c = &healthCount{}
		h.m[k] = c
	}
	c.calls++
	if failed {
		c.failed++
	}
}

// get returns the counts of pool at version.
func (h *versionHealth) get(pool string, version uint64) (calls, failed int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.m[healthKey{pool, version}]; c != nil {
		return c.calls, c.failed
	}
	return 0, 0
}
