package runner

import (
	"math/rand/v2"
	"testing"
)

func TestFifoMatchesSliceModel(t *testing.T) {
	var f fifo[int]
	var model []int
	next := 0
	for i := 0; i < 20000; i++ {
		// Bias towards growth first, then towards draining, so the ring
		// grows, wraps around and shrinks back.
		pushP := 0.6
		if i > 10000 {
			pushP = 0.4
		}
		if rand.Float64() < pushP || len(model) == 0 {
			f.push(next)
			model = append(model, next)
			next++
		} else {
			got, want := f.pop(), model[0]
			model = model[1:]
			if got != want {
				t.Fatalf("step %d: pop = %d, want %d", i, got, want)
			}
		}
		if f.len() != len(model) {
			t.Fatalf("step %d: len = %d, want %d", i, f.len(), len(model))
		}
	}
	for len(model) > 0 {
		if got := f.pop(); got != model[0] {
			t.Fatalf("drain: pop = %d, want %d", got, model[0])
		}
		model = model[1:]
	}
	if f.buf != nil {
		t.Fatalf("empty fifo keeps a buffer of %d", len(f.buf))
	}
}
