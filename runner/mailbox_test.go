package runner_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rivetkube/rivetkube/rivet"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
)

// TestMailboxBoundAndOrder fills a small mailbox behind a blocked action:
// the queued tasks run in order, one more is refused with actor/overloaded.
func TestMailboxBoundAndOrder(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	unblock := make(chan struct{})
	def := rivet.New("mb", rivet.Options[[]int64]{}).
		Action("block", func(c *rivet.Ctx[[]int64]) error {
			close(started)
			<-unblock
			return nil
		}).
		Action("add", func(c *rivet.Ctx[[]int64], n int64) ([]int64, error) {
			*c.State() = append(*c.State(), n)
			return *c.State(), nil
		})
	e := newEnv(t, t.TempDir(), def)
	e.rt.SetMailboxSizeForTest(3)
	id := e.create(t, "mb", nil, nil)
	ctx := context.Background()
	blocked := make(chan error, 1)
	go func() {
		_, err := e.rt.Action(ctx, hostapi.ActionRequest{ActorID: id, Name: "block", Args: mustMarshal(t, []any{})})
		blocked <- err
	}()
	<-started
	type result struct {
		n   int64
		out []int64
		err error
	}
	results := make(chan result, 3)
	for n := int64(1); n <= 3; n++ {
		go func() {
			out, err := call[[]int64](t, e, id, "add", n)
			results <- result{n, out, err}
		}()
		// Wait until it is queued, so the queue order is 1, 2, 3.
		for {
			queued := e.rt.QueuedForTest(id)
			if queued == int(n) {
				break
			}
		}
	}
	_, err := call[[]int64](t, e, id, "add", 4)
	var pe *errs.Error
	if !errors.As(err, &pe) || pe.Code != "overloaded" {
		t.Fatalf("add past the mailbox bound: %v, want actor/overloaded", err)
	}
	close(unblock)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r := <-results
		if r.err != nil || len(r.out) != int(r.n) || r.out[r.n-1] != r.n {
			t.Fatalf("add %d = %v, %v; want the first %d values in order", r.n, r.out, r.err, r.n)
		}
	}
	s, err := call[[]int64](t, e, id, "add", 5)
	if err != nil || len(s) != 4 || s[0] != 1 || s[1] != 2 || s[2] != 3 || s[3] != 5 {
		t.Fatalf("final state %v, %v; want [1 2 3 5]", s, err)
	}
}
