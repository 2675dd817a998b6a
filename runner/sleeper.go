package runner

import (
	"container/heap"
	"sync"
	"time"
)

// sleeper runs the sleep countdowns of a runtime's instances on one timer.
// A time.Timer per awake actor costs about 180 bytes (the timer and its
// callback) for as long as the actor is awake; here an armed instance
// costs one slot in a heap.
//
// The heap holds each armed instance at most once, keyed by the deadline
// it had when it went in. Arming an instance that is in already only moves
// its deadline (Instance.sleepAt, under in.mu): a countdown restarts at
// every task's end, and deadlines only move later, so the entry stays in
// place and is looked at when its older key falls due. Then, under in.mu,
// an instance whose deadline moved is put back with the new one, and one
// whose deadline passed is asked to sleep; the mailbox loop still checks
// that nothing keeps it awake, as it did for the per-instance timer.
//
// Lock order: in.mu before sleeper.mu (arm is called under in.mu); fire
// takes no instance lock while it holds sleeper.mu.
type sleeper struct {
	mu     sync.Mutex
	heap   sleepHeap
	timer  *time.Timer // due at heap[0].sleepKey while the heap is not empty
	closed bool
}

// sleepHeap orders armed instances by sleepKey (container/heap); an
// instance's sleepPos is its index plus one (0: not in the heap).
type sleepHeap []*Instance

func (h sleepHeap) Len() int           { return len(h) }
func (h sleepHeap) Less(i, j int) bool { return h[i].sleepKey < h[j].sleepKey }

func (h sleepHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].sleepPos = int32(i + 1)
	h[j].sleepPos = int32(j + 1)
}

func (h *sleepHeap) Push(x any) {
	in := x.(*Instance)
	*h = append(*h, in)
	in.sleepPos = int32(len(*h))
}

func (h *sleepHeap) Pop() any {
	old := *h
	in := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	in.sleepPos = 0
	if cap(*h) > 64 && len(*h) < cap(*h)/4 {
		*h = append(sleepHeap(nil), *h...) // give back a drained heap's array
	}
	return in
}

// arm puts in into the heap with deadline at (time since monoEpoch) unless
// it is there already. in.mu is held; in.sleepAt is at.
func (s *sleeper) arm(in *Instance, at time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if in.sleepPos > 0 {
		// In already: a later deadline waits for the entry's turn (fire
		// puts it back); an earlier one (not made today: an instance's
		// timeout is fixed) moves the entry up.
		if at < in.sleepKey {
			in.sleepKey = at
			heap.Fix(&s.heap, int(in.sleepPos)-1)
			if in.sleepPos == 1 {
				s.resetLocked(at)
			}
		}
		return
	}
	in.sleepKey = at
	heap.Push(&s.heap, in)
	if in.sleepPos == 1 {
		s.resetLocked(at)
	}
}

// disarm takes in out of the heap (the stop sequence).
func (s *sleeper) disarm(in *Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.sleepPos > 0 {
		heap.Remove(&s.heap, int(in.sleepPos)-1)
	}
}

// close stops the timer; later arms are ignored.
func (s *sleeper) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	for _, in := range s.heap {
		in.sleepPos = 0
	}
	s.heap = nil
}

// resetLocked points the timer at deadline at.
func (s *sleeper) resetLocked(at time.Duration) {
	d := max(at-time.Since(monoEpoch), 0)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
		return
	}
	s.timer.Reset(d)
}

// fire takes every entry that fell due out of the heap and looks at each
// under its own lock (see the type's comment).
func (s *sleeper) fire() {
	now := time.Since(monoEpoch)
	s.mu.Lock()
	var due []*Instance
	for len(s.heap) > 0 && s.heap[0].sleepKey <= now {
		due = append(due, heap.Pop(&s.heap).(*Instance))
	}
	if len(s.heap) > 0 && !s.closed {
		s.resetLocked(s.heap[0].sleepKey)
	}
	s.mu.Unlock()
	for _, in := range due {
		in.sleepDue(now)
	}
}
