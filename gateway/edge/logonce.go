package edge

import "sync"

// logOnce remembers which keys were logged, so a refused origin or a
// client sending bad tokens is logged once, not once per request. It holds
// at most max keys: past that nothing new is logged, which bounds both the
// memory and the log a flood of made-up values can cause.
type logOnce struct {
	max int

	mu   sync.Mutex
	seen map[string]struct{}
}

func newLogOnce(max int) *logOnce { return &logOnce{max: max, seen: map[string]struct{}{}} }

// first reports whether key is new (and records it), false once max keys
// are recorded.
func (l *logOnce) first(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[key]; ok || len(l.seen) >= l.max {
		return false
	}
	l.seen[key] = struct{}{}
	return true
}
