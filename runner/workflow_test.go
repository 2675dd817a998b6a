package runner_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/rivet"

	"github.com/rivetkube/rivetkube/internal/hostapi"
)

type loopState struct {
	Sum  int  `cbor:"sum"`
	Done bool `cbor:"done"`
}

// loopRecorder counts how often each iteration's body and step code ran.
type loopRecorder struct {
	mu     sync.Mutex
	bodies map[int]int
	steps  map[int]int
}

func (r *loopRecorder) add(m map[int]int, i int) {
	r.mu.Lock()
	m[i]++
	r.mu.Unlock()
}

func (r *loopRecorder) counts() (bodies, steps map[int]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bodies, steps = map[int]int{}, map[int]int{}
	for k, v := range r.bodies {
		bodies[k] = v
	}
	for k, v := range r.steps {
		steps[k] = v
	}
	return bodies, steps
}

// loopActor's workflow sums queue messages in a LoopWithState until it
// takes a negative one, then records the total.
func loopActor(rec *loopRecorder) *rivet.Actor[loopState] {
	return rivet.New("loop", rivet.Options[loopState]{
		Queues: []string{"jobs"},
		Workflow: func(w *rivet.Workflow[loopState]) error {
			total, err := rivet.LoopWithState(w, "jobs", 0, func(w *rivet.Workflow[loopState], i int, sum int) (int, int, bool, error) {
				rec.add(rec.bodies, i)
				m, err := w.Next("take", "jobs")
				if err != nil {
					return 0, 0, false, err
				}
				var n int
				if err := m.Decode(&n); err != nil {
					return 0, 0, false, err
				}
				if n < 0 {
					return sum, sum, true, nil
				}
				next, err := rivet.Step(w, "add", func(c *rivet.Ctx[loopState]) (int, error) {
					rec.add(rec.steps, i)
					c.State().Sum = sum + n
					return sum + n, nil
				})
				return next, next, false, err
			})
			if err != nil {
				return err
			}
			_, err = rivet.Step(w, "total", func(c *rivet.Ctx[loopState]) (int, error) {
				c.State().Done = true
				c.State().Sum = total
				return total, nil
			})
			return err
		},
	}).Action("get", func(c *rivet.Ctx[loopState]) (loopState, error) { return *c.State(), nil })
}

func sendJob(t *testing.T, e *env, id string, n int) {
	t.Helper()
	if _, err := e.rt.QueueSend(context.Background(), hostapi.QueueSendRequest{ActorID: id, Queue: "jobs", Body: mustMarshal(t, n)}); err != nil {
		t.Fatalf("send %d: %v", n, err)
	}
}

func waitLoop(t *testing.T, e *env, id string, what string, ok func(loopState) bool) loopState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := call[loopState](t, e, id, "get")
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: last state %+v, %v", what, s, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stepNamesOf(t *testing.T, e *env, id string) []string {
	t.Helper()
	steps, err := e.st.ListWorkflowSteps(context.Background(), id, rivet.WorkflowRun)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range steps {
		names = append(names, s.Name+":"+s.Status)
	}
	return names
}

// TestLoopWithStateCompactsAndResumes: the history of a LoopWithState
// stays the size of one iteration however many iterations ran, and after a
// restart the loop resumes at the unfinished iteration with its state,
// without running finished iterations' bodies or steps again.
func TestLoopWithStateCompactsAndResumes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rec := &loopRecorder{bodies: map[int]int{}, steps: map[int]int{}}
	e := newEnv(t, dir, loopActor(rec))
	id := e.create(t, "loop", nil, nil)
	want := 0
	for n := 1; n <= 30; n++ {
		sendJob(t, e, id, n)
		want += n
	}
	waitLoop(t, e, id, "30 messages summed", func(s loopState) bool { return s.Sum == want })
	// Iteration 30 waits for a message: only the cursor is recorded (the
	// step that took message 30 is committed with the cursor's update, so
	// wait for the cursor to say 30).
	var names []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		names = stepNamesOf(t, e, id)
		steps, _ := e.st.ListWorkflowSteps(context.Background(), id, rivet.WorkflowRun)
		var c loopCursor[int]
		if len(steps) == 1 && rivet.Unmarshal(steps[0].Result, &c) == nil && c.Next == 30 {
			if c.State != want {
				t.Fatalf("cursor state = %d, want %d", c.State, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history after 30 iterations = %v; want only the cursor jobs[#] at iteration 30", names)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(names) != 1 || names[0] != "jobs[#]:completed" {
		t.Fatalf("history after 30 iterations = %v; want [jobs[#]:completed]", names)
	}

	e.close()
	e2 := newEnv(t, dir, loopActor(rec))
	waitLoop(t, e2, id, "the actor awake again", func(s loopState) bool { return s.Sum == want })
	for n := 31; n <= 35; n++ {
		sendJob(t, e2, id, n)
		want += n
	}
	sendJob(t, e2, id, -1)
	s := waitLoop(t, e2, id, "the loop done", func(s loopState) bool { return s.Done })
	if s.Sum != want {
		t.Fatalf("sum after the loop = %d, want %d", s.Sum, want)
	}
	bodies, steps := rec.counts()
	for i := 0; i < 35; i++ {
		if steps[i] != 1 {
			t.Errorf("the step of iteration %d ran %d times, want once", i, steps[i])
		}
		if want := map[bool]int{true: 2, false: 1}[i == 30]; bodies[i] != want {
			// Iteration 30 was waiting for its message at the restart: its
			// body runs again; finished ones must not.
			t.Errorf("the body of iteration %d ran %d times, want %d", i, bodies[i], want)
		}
	}
	// The state says done before the run's last commit ($done, the loop's
	// records dropped) is durable: wait for the history to settle.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		names = stepNamesOf(t, e2, id)
		if len(names) == 3 && names[2] == wfDone+":completed" || time.Now().After(deadline) {
			break
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "jobs[") {
			t.Fatalf("history after the loop = %v; want no iteration records and no cursor", names)
		}
	}
	if len(names) != 3 || names[0] != "jobs:completed" || names[1] != "total:completed" || names[2] != wfDone+":completed" {
		t.Fatalf("history after the loop = %v; want [jobs total %s]", names, wfDone)
	}

	// A finished workflow is not run again, and its loop's value stays.
	e2.close()
	e3 := newEnv(t, dir, loopActor(rec))
	if s, err := call[loopState](t, e3, id, "get"); err != nil || s.Sum != want || !s.Done {
		t.Fatalf("after another restart: %+v, %v", s, err)
	}
	if b, _ := rec.counts(); b[35] != 1 {
		t.Fatalf("the last iteration's body ran %d times, want once", b[35])
	}
}

// loopCursor is the stored form of a LoopWithState checkpoint (record
// "name[#]"), decoded here as any reader of the history would.
type loopCursor[L any] struct {
	Next  int `cbor:"next"`
	State L   `cbor:"state"`
}

// wfDone is the record that marks a finished workflow run.
const wfDone = "$done"
