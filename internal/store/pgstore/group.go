package pgstore

import "sync"

// grouper groups concurrent calls of one kind: while a group runs, the
// calls that arrive queue, and the next group takes all of them (up to
// max). A call that finds nothing running starts at once: no added delay
// when idle. The caller that starts a group runs it on its own goroutine
// and hands the groups queued meanwhile to a new goroutine, so its own
// call is not delayed by later ones.
type grouper[C any] struct {
	max     int
	mu      sync.Mutex
	queue   []C
	running bool
}

// add queues c and, when no group is running, runs groups with run. run
// must resolve every call of its group.
func (g *grouper[C]) add(c C, run func([]C)) {
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		return
	}
	run(g.next())
	if next := g.next(); next != nil {
		go func() {
			for ; next != nil; next = g.next() {
				run(next)
			}
		}()
	}
}

// next takes the next group off the queue; with none queued it ends the
// running state and returns nil.
func (g *grouper[C]) next() []C {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.running = false
		return nil
	}
	n := min(len(g.queue), g.max)
	out := g.queue[:n:n]
	g.queue = g.queue[n:]
	return out
}
