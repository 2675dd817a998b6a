package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/rivet"
)

type parkState struct {
	Count   int64 `cbor:"count"`
	Fired   int64 `cbor:"fired"`
	Taken   int64 `cbor:"taken"`
	Resumed int64 `cbor:"resumed"`
}

// parkActor counts actions, scheduled calls, queue messages taken by its
// Run loop, and actions resumed after a wait point.
// reached gets a value when waitThenInc is about to wait, fired when a
// scheduled call ran.
func parkActor(sleep time.Duration, reached, fired chan<- struct{}) *rivet.Actor[parkState] {
	return rivet.New("park", rivet.Options[parkState]{
		SleepTimeout: sleep,
		Queues:       []string{"jobs"},
		Run: func(c *rivet.Ctx[parkState], q *rivet.Queue) error {
			for {
				m, err := q.Next(c, "jobs")
				if err != nil {
					return err
				}
				c.State().Taken++
				if err := m.Complete(c.State().Taken); err != nil {
					return err
				}
			}
		},
	}).
		Action("inc", func(c *rivet.Ctx[parkState]) (int64, error) { c.State().Count++; return c.State().Count, nil }).
		Action("get", func(c *rivet.Ctx[parkState]) (parkState, error) { return *c.State(), nil }).
		Action("fire", func(c *rivet.Ctx[parkState]) error { c.State().Fired++; fired <- struct{}{}; return nil }).
		Action("scheduleFire", func(c *rivet.Ctx[parkState], ms int64) error {
			_, err := c.Schedule().After(time.Duration(ms)*time.Millisecond, "fire")
			return err
		}).
		Action("waitThenInc", func(c *rivet.Ctx[parkState], ms int64) (int64, error) {
			reached <- struct{}{}
			if err := c.Wait(time.Duration(ms) * time.Millisecond); err != nil {
				return 0, err
			}
			c.State().Resumed++
			return c.State().Resumed, nil
		})
}

// waitParked waits until id's mailbox is parked (no goroutine runs it).
func waitParked(t *testing.T, e *env, id, after string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !e.rt.ParkedForTest(id) {
		if time.Now().After(deadline) {
			t.Fatalf("mailbox of %s not parked %s", id, after)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestParkedMailboxWakes: an idle awake actor holds no mailbox goroutine,
// and each kind of work starts one: an action, a due schedule (alarm), a
// queue message for its Run loop, and the grant that resumes a task
// waiting at a wait point. After each, the mailbox parks again.
func TestParkedMailboxWakes(t *testing.T) {
	t.Parallel()
	reached, fired := make(chan struct{}, 1), make(chan struct{}, 1)
	e := newEnv(t, t.TempDir(), parkActor(time.Hour, reached, fired))
	id := e.create(t, "park", nil, nil)
	if n, err := call[int64](t, e, id, "inc"); err != nil || n != 1 {
		t.Fatalf("inc = %d, %v", n, err)
	}
	waitParked(t, e, id, "after its first action")

	// A message (an action) wakes it.
	if n, err := call[int64](t, e, id, "inc"); err != nil || n != 2 {
		t.Fatalf("inc on a parked mailbox = %d, %v", n, err)
	}
	waitParked(t, e, id, "after an action")

	// An alarm (a schedule falling due) wakes it.
	if _, err := call[any](t, e, id, "scheduleFire", int64(50)); err != nil {
		t.Fatal(err)
	}
	waitParked(t, e, id, "after scheduling")
	// Nothing but the alarm may start the loop now: no action is sent.
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("the schedule of a parked actor never fired")
	}
	waitParked(t, e, id, "after the alarm")

	// A queue message for the Run loop wakes it.
	res, err := e.rt.QueueSend(context.Background(), hostapi.QueueSendRequest{ActorID: id, Queue: "jobs", Body: mustMarshal(t, 1), Wait: true, Timeout: 10 * time.Second})
	if err != nil || !res.Completed {
		t.Fatalf("queue send = %+v, %v", res, err)
	}
	waitPark(t, e, id, "the Run loop took the message", func(s parkState) bool { return s.Taken == 1 })
	waitParked(t, e, id, "after a queue message")

	// A task waiting at a wait point resumes through a grant while the
	// mailbox is parked.
	done := make(chan error, 1)
	go func() {
		n, err := call[int64](t, e, id, "waitThenInc", int64(500))
		if err == nil && n != 1 {
			err = errCount(n)
		}
		done <- err
	}()
	<-reached
	waitParked(t, e, id, "while a task waits")
	select {
	case err := <-done:
		t.Fatalf("the task ended before the mailbox parked: %v", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatalf("resumed task: %v", err)
	}
	waitParked(t, e, id, "after the resumed task")
	s := waitPark(t, e, id, "final", func(s parkState) bool { return true })
	if s.Count != 2 || s.Fired != 1 || s.Taken != 1 || s.Resumed != 1 {
		t.Fatalf("state %+v, want count 2, fired 1, taken 1, resumed 1", s)
	}
}

// TestParkedMailboxSleeps: the sleep countdown of a parked actor runs on a
// timer, not a goroutine: the actor still sleeps, runs onSleep and its
// state survives.
func TestParkedMailboxSleeps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(100*time.Millisecond))
	id := e.create(t, "t", nil, "in")
	if n, err := call[int64](t, e, id, "inc", int64(5)); err != nil || n != 5 {
		t.Fatalf("inc = %d, %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.rt.AwakeForTest(id) {
		if time.Now().After(deadline) {
			t.Fatal("a parked actor never slept")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s, err := call[testState](t, e, id, "get")
	if err != nil || s.Count != 5 || s.Sleeps != 1 || s.Wakes != 2 {
		t.Fatalf("after sleep and wake: %+v, %v; want count 5, one sleep, two wakes", s, err)
	}
}

type errCount int64

func (e errCount) Error() string { return "unexpected count" }

func waitPark(t *testing.T, e *env, id, what string, ok func(parkState) bool) parkState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := call[parkState](t, e, id, "get")
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state %+v, %v", what, s, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
