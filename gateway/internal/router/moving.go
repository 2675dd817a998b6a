package router

import (
	"context"
	"sync"
	"time"
)

// movingSet holds the actors this gateway's drain is moving, each with a
// channel closed when its move has an outcome (the new placement is
// written, or the move gave up). A request for such an actor waits on the
// channel instead of going to the old runner (where it would find the
// actor stopping) and polling the store with backoff: it then routes once,
// to the new placement. Only the leader moves actors, so on other gateways
// the set is empty and requests poll as before. The wait is bounded by the
// request's wait timeout (Config.WaitTimeout) like every other wait.
type movingSet struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// begin marks id moving and returns the function that ends its move; it
// must be called exactly once.
func (s *movingSet) begin(id string) (end func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]chan struct{}{}
	}
	s.m[id] = ch
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		if s.m[id] == ch {
			delete(s.m, id)
		}
		s.mu.Unlock()
		close(ch)
	}
}

// wait blocks while id is being moved, until the move has its outcome,
// ctx ends or bound passes. It reports whether it waited.
func (s *movingSet) wait(ctx context.Context, id string, bound time.Duration) bool {
	s.mu.Lock()
	ch := s.m[id]
	s.mu.Unlock()
	if ch == nil {
		return false
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-ch:
	case <-ctx.Done():
	case <-t.C:
	}
	return true
}
