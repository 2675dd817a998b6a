package runner

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"
)

// TestSleeperHeap arms, re-arms and disarms instances in random order and
// checks the heap's order and every instance's position after each step,
// then that entries come out in deadline order.
func TestSleeperHeap(t *testing.T) {
	var s sleeper
	defer s.close()
	rng := rand.New(rand.NewPCG(1, 2))
	far := time.Since(monoEpoch) + time.Hour // the timer never fires here
	ins := make([]*Instance, 300)
	for i := range ins {
		ins[i] = &Instance{}
	}
	check := func(step string) {
		t.Helper()
		s.mu.Lock()
		defer s.mu.Unlock()
		in := map[*Instance]bool{}
		for i, x := range s.heap {
			if int(x.sleepPos) != i+1 {
				t.Fatalf("%s: entry %d has position %d", step, i, x.sleepPos)
			}
			if i > 0 && s.heap.Less(i, (i-1)/2) {
				t.Fatalf("%s: entry %d is due before its parent", step, i)
			}
			in[x] = true
		}
		for _, x := range ins {
			if !in[x] && x.sleepPos != 0 {
				t.Fatalf("%s: an instance out of the heap has position %d", step, x.sleepPos)
			}
		}
	}
	for i := range 3000 {
		x := ins[rng.IntN(len(ins))]
		at := far + time.Duration(rng.IntN(10_000))*time.Millisecond
		switch rng.IntN(4) {
		case 0:
			s.disarm(x)
		default:
			s.arm(x, at)
		}
		if i%100 == 0 {
			check("step")
		}
	}
	check("end")
	s.mu.Lock()
	var last time.Duration
	for len(s.heap) > 0 {
		x := s.heap[0]
		if x.sleepKey < last {
			s.mu.Unlock()
			t.Fatalf("deadline %v came out after %v", x.sleepKey, last)
		}
		last = x.sleepKey
		heap.Pop(&s.heap)
		if x.sleepPos != 0 {
			s.mu.Unlock()
			t.Fatal("a removed entry kept its position")
		}
	}
	s.mu.Unlock()
}

// TestSleeperArmKeepsEarlierDeadline: arming an instance already in the
// heap with a later deadline leaves its entry (fire puts it back), with
// an earlier one moves it.
func TestSleeperArmKeepsEarlierDeadline(t *testing.T) {
	var s sleeper
	defer s.close()
	far := time.Since(monoEpoch) + time.Hour
	a, b := &Instance{}, &Instance{}
	s.arm(a, far+2*time.Second)
	s.arm(b, far+3*time.Second)
	s.arm(a, far+5*time.Second)
	if a.sleepKey != far+2*time.Second || s.heap[0] != a {
		t.Fatalf("a later deadline moved the entry: key %v", a.sleepKey-far)
	}
	s.arm(b, far+time.Second)
	if s.heap[0] != b || b.sleepKey != far+time.Second {
		t.Fatalf("an earlier deadline did not move the entry up: key %v", b.sleepKey-far)
	}
}
