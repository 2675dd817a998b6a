package runner

import (
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
	heap   []*Instance // min-heap by sleepKey; Instance.sleepPos is index+1
	timer  *time.Timer // due at heap[0].sleepKey while the heap is not empty
	closed bool
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
			s.up(int(in.sleepPos) - 1)
			if in.sleepPos == 1 {
				s.resetLocked(at)
			}
		}
		return
	}
	in.sleepKey = at
	s.heap = append(s.heap, in)
	in.sleepPos = int32(len(s.heap))
	s.up(len(s.heap) - 1)
	if in.sleepPos == 1 {
		s.resetLocked(at)
	}
}

// disarm takes in out of the heap (the stop sequence).
func (s *sleeper) disarm(in *Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.sleepPos > 0 {
		s.removeLocked(int(in.sleepPos) - 1)
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
		due = append(due, s.heap[0])
		s.removeLocked(0)
	}
	if len(s.heap) > 0 && !s.closed {
		s.resetLocked(s.heap[0].sleepKey)
	}
	s.mu.Unlock()
	for _, in := range due {
		in.sleepDue(now)
	}
}

// removeLocked takes the entry at i out of the heap.
func (s *sleeper) removeLocked(i int) {
	in := s.heap[i]
	last := len(s.heap) - 1
	if i != last {
		s.swap(i, last)
	}
	s.heap[last] = nil
	s.heap = s.heap[:last]
	in.sleepPos = 0
	if i != last {
		if !s.down(i) {
			s.up(i)
		}
	}
	if cap(s.heap) > 64 && len(s.heap) < cap(s.heap)/4 {
		s.heap = append([]*Instance(nil), s.heap...) // give back a drained heap's array
	}
}

func (s *sleeper) less(i, j int) bool { return s.heap[i].sleepKey < s.heap[j].sleepKey }

func (s *sleeper) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.heap[i].sleepPos = int32(i + 1)
	s.heap[j].sleepPos = int32(j + 1)
}

func (s *sleeper) up(j int) {
	for {
		i := (j - 1) / 2
		if i == j || !s.less(j, i) {
			break
		}
		s.swap(i, j)
		j = i
	}
}

func (s *sleeper) down(i0 int) bool {
	i, n := i0, len(s.heap)
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if j2 := j + 1; j2 < n && s.less(j2, j) {
			j = j2
		}
		if !s.less(j, i) {
			break
		}
		s.swap(i, j)
		i = j
	}
	return i > i0
}
