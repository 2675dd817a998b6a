package runner_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/rivet"
)

// TestTaskContextEndsWithActor: the context of an action waiting at a wait
// point ends when its actor stops (long before the action's timeout), and
// a finished action leaves nothing registered behind.
func TestTaskContextEndsWithActor(t *testing.T) {
	t.Parallel()
	waiting := make(chan struct{}, 1)
	ended := make(chan error, 1)
	def := rivet.New("tc", rivet.Options[int]{}).
		Action("hang", func(c *rivet.Ctx[int]) error {
			_, err := rivet.Await(c, func(ctx context.Context) (int, error) {
				waiting <- struct{}{}
				<-ctx.Done()
				ended <- ctx.Err()
				return 0, ctx.Err()
			})
			return err
		}).
		Action("ping", func(c *rivet.Ctx[int]) (int, error) { return 1, nil })
	e := newEnv(t, t.TempDir(), def)
	id := e.create(t, "tc", nil, nil)
	if _, err := call[int](t, e, id, "ping"); err != nil {
		t.Fatal(err)
	}
	// The reply can leave (inline, from the pump) before the task's
	// deferred cancel ran: wait for it rather than race it.
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		n := e.rt.TaskContextsForTest(id)
		if n == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d task contexts registered after the action ended, want 0", n)
		}
	}
	go func() { _, _ = call[any](t, e, id, "hang") }()
	<-waiting
	if n := e.rt.TaskContextsForTest(id); n != 1 {
		t.Fatalf("%d task contexts registered while an action waits, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go e.rt.Close(ctx)
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("task context ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting action's context did not end when its actor stopped")
	}
}
