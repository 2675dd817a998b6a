package rivet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/runner"
)

// Workflow is a durable workflow run: the actor's Run loop with replay.
// Each Step's result is recorded and committed (together with the state
// changes made so far) before the workflow moves on; when the actor is next
// activated — after sleep, a move or kill -9 — the workflow function runs
// again from the start and every recorded step returns its recorded result
// instead of executing again, so execution continues after the last
// completed step. Step names must be unique within a run and the function
// must take the same path on replay (decide with step results, not with
// clocks or randomness outside steps).
type Workflow[S any] struct {
	c      *Ctx[S]
	h      *runner.History
	prefix string
}

// WorkflowRun is the id of the actor's workflow run in the history.
const WorkflowRun = "main"

const wfDone = "$done"

// StepOptions tunes retries of a failing step.
type StepOptions struct {
	// MaxAttempts bounds tries (default 5); the step then fails for good.
	MaxAttempts int
	// Backoff is the first retry delay (default 100 ms), doubled each try
	// up to MaxBackoff (default 30 s).
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// Ctx returns the actor context the workflow runs with (state, KV, events,
// schedules, other actors). Its context ends when the actor stops.
func (w *Workflow[S]) Ctx() *Ctx[S] { return w.c }

func (w *Workflow[S]) key(name string) string { return w.prefix + name }

// record stages a step record for the next commit.
func (w *Workflow[S]) record(st store.WorkflowStep) { w.h.Record(st) }

// checkpoint commits what the workflow did so far (step records, state,
// KV, acks): the Run loop lets go of the actor and takes it back.
func (w *Workflow[S]) checkpoint() error { return w.h.Checkpoint() }

// Step runs fn once per workflow run: its result is recorded, and on replay
// returned without running fn. A failing fn is retried with backoff; every
// attempt and the last error are visible in the history.
func Step[T, S any](w *Workflow[S], name string, fn func(c *Ctx[S]) (T, error), opts ...StepOptions) (T, error) {
	var zero T
	if err := validStepName(name); err != nil {
		return zero, err
	}
	key := w.key(name)
	if len(key) > store.MaxStepNameSize {
		return zero, fmt.Errorf("rivet: step %q: the name with its loop prefixes is over %d bytes", key, store.MaxStepNameSize)
	}
	if st, ok := w.h.Step(key); ok {
		switch st.Status {
		case "completed":
			var v T
			if err := Unmarshal(st.Result, &v); err != nil {
				return zero, fmt.Errorf("rivet: replay step %q: %w", key, err)
			}
			return v, nil
		case "failed":
			return zero, &StepError{Step: key, Attempts: st.Attempts, Err: errors.New(st.Error)}
		}
	}
	o := StepOptions{MaxAttempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second}
	if len(opts) > 0 {
		if opts[0].MaxAttempts > 0 {
			o.MaxAttempts = opts[0].MaxAttempts
		}
		if opts[0].Backoff > 0 {
			o.Backoff = opts[0].Backoff
		}
		if opts[0].MaxBackoff > 0 {
			o.MaxBackoff = opts[0].MaxBackoff
		}
	}
	prev, _ := w.h.Step(key)
	attempts := prev.Attempts
	started := prev.StartedAt
	if started.IsZero() {
		started = time.Now().UTC()
	}
	seq := prev.Seq
	if seq == 0 {
		seq = w.h.NextSeq()
	}
	delay := o.Backoff
	for {
		attempts++
		begin := time.Now()
		v, err := func() (v T, err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("step panicked: %v", r)
				}
			}()
			return fn(w.c)
		}()
		end := time.Now()
		if err == nil {
			b, merr := Marshal(v)
			if merr != nil {
				return zero, fmt.Errorf("rivet: step %q result: %w", key, merr)
			}
			if len(b) > store.MaxStepResultSize {
				return zero, fmt.Errorf("rivet: step %q result is %d bytes, limit is %d", key, len(b), store.MaxStepResultSize)
			}
			w.h.TraceStep(key, begin, end, nil)
			w.record(store.WorkflowStep{Seq: seq, Name: key, Status: "completed", Result: b, Attempts: attempts, StartedAt: started, FinishedAt: time.Now().UTC()})
			return v, w.checkpoint()
		}
		w.h.TraceStep(key, begin, end, err)
		msg := err.Error()
		if len(msg) > 4000 {
			msg = msg[:4000]
		}
		if attempts >= o.MaxAttempts {
			w.record(store.WorkflowStep{Seq: seq, Name: key, Status: "failed", Error: msg, Attempts: attempts, StartedAt: started, FinishedAt: time.Now().UTC()})
			if cerr := w.checkpoint(); cerr != nil {
				return zero, cerr
			}
			return zero, &StepError{Step: key, Attempts: attempts, Err: err}
		}
		w.record(store.WorkflowStep{Seq: seq, Name: key, Status: "running", Error: msg, Attempts: attempts, StartedAt: started})
		w.h.Log().Warn("workflow step failed; retrying", "step", key, "attempt", attempts, "err", err)
		if err := w.wait(delay); err != nil {
			return zero, err
		}
		delay = min(delay*2, o.MaxBackoff)
	}
}

// StepError is a step that failed for good.
type StepError struct {
	Step     string
	Attempts int
	Err      error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("workflow step %q failed after %d attempts: %v", e.Step, e.Attempts, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// wait lets go of the actor for d (actions run meanwhile), committing first.
func (w *Workflow[S]) wait(d time.Duration) error { return w.h.Wait(d) }

// Sleep is a durable sleep: its wake-up time is recorded on first run, so
// after a restart the workflow sleeps only for what is left. The actor may
// sleep meanwhile; a schedule wakes it when the time comes.
func (w *Workflow[S]) Sleep(name string, d time.Duration) error {
	until, err := Step(w, name, func(*Ctx[S]) (time.Time, error) {
		t := time.Now().Add(d).UTC()
		w.h.ScheduleWake(t)
		return t, nil
	})
	if err != nil {
		return err
	}
	if left := time.Until(until); left > 0 {
		return w.wait(left)
	}
	return nil
}

// QueueMessage is a queue message as a workflow step records it.
type QueueMessage struct {
	ID   uint64 `cbor:"id"`
	Name string `cbor:"name"`
	Body Raw    `cbor:"body"`
}

// Decode decodes the body into v.
func (m QueueMessage) Decode(v any) error { return m.Body.Decode(v) }

// Next takes the next message of names (any queue when none) as a durable
// step: the message is removed from the queue in the same commit that
// records it, and on replay the recorded message is returned.
func (w *Workflow[S]) Next(name string, names ...string) (QueueMessage, error) {
	key := w.key(name)
	if st, ok := w.h.Step(key); ok && st.Status == "completed" {
		var m QueueMessage
		err := Unmarshal(st.Result, &m)
		return m, err
	}
	msg, err := w.h.Take(w.c, names...)
	if err != nil {
		return QueueMessage{}, err
	}
	m := QueueMessage{ID: msg.ID(), Name: msg.Name(), Body: msg.Body()}
	return Step(w, name, func(*Ctx[S]) (QueueMessage, error) { return m, nil })
}

// Loop runs body for i = 0, 1, ... until it reports done, as part of the
// workflow: steps inside iteration i are recorded under "name[i]/", so a
// replay skips the finished iterations' steps. It returns the value of the
// iteration that was done. Every iteration's records are kept and a replay
// runs every iteration's body again (with recorded step results), so Loop
// suits short loops; a loop that may run for a long time wants
// LoopWithState, whose history stays one iteration long.
func Loop[T, S any](w *Workflow[S], name string, body func(w *Workflow[S], i int) (T, bool, error)) (T, error) {
	var zero T
	if err := validStepName(name); err != nil {
		return zero, err
	}
	outer := w.prefix
	defer func() { w.prefix = outer }()
	for i := 0; ; i++ {
		w.prefix = outer + name + "[" + strconv.Itoa(i) + "]/"
		v, done, err := body(w, i)
		if err != nil {
			return zero, err
		}
		if done {
			w.prefix = outer
			return Step(w, name, func(*Ctx[S]) (T, error) { return v, nil })
		}
		if err := w.h.Err(); err != nil {
			return zero, err
		}
	}
}

// LoopWithState runs body for i = 0, 1, ... with a loop state carried from
// each iteration to the next, until body reports done, and returns the
// value of the iteration that was done. It is the loop for workflows that
// run for a long time (an agent taking queue messages forever): unlike
// Loop, its history stays the size of one iteration. When an iteration
// ends, the state it returned is checkpointed (step "name[#]", visible in
// the history) and its steps' records are deleted, in one commit. A replay
// resumes at the first unfinished iteration with the checkpointed state,
// without running the bodies of finished iterations again; so what must
// survive belongs in the loop state (or the actor's state), not in
// variables the body closes over. The loop state is encoded like a step
// result (CBOR, at most 1 MiB).
func LoopWithState[L, T, S any](w *Workflow[S], name string, init L, body func(w *Workflow[S], i int, state L) (next L, value T, done bool, err error)) (T, error) {
	var zero T
	if err := validStepName(name); err != nil {
		return zero, err
	}
	outer := w.prefix
	defer func() { w.prefix = outer }()
	if _, ok := w.h.Step(outer + name); ok {
		// Finished in an earlier activation: its recorded value.
		return Step(w, name, func(*Ctx[S]) (T, error) { return zero, errors.New("rivet: loop finished but not recorded") })
	}
	cursor := outer + name + "[#]"
	if len(cursor) > store.MaxStepNameSize {
		return zero, fmt.Errorf("rivet: loop %q: the name with its loop prefixes is over %d bytes", cursor, store.MaxStepNameSize)
	}
	i, state := 0, init
	if st, ok := w.h.Step(cursor); ok {
		var c loopCursor[L]
		if err := Unmarshal(st.Result, &c); err != nil {
			return zero, fmt.Errorf("rivet: replay loop %q: %w", cursor, err)
		}
		i, state = c.Next, c.State
	}
	for ; ; i++ {
		iter := outer + name + "[" + strconv.Itoa(i) + "]/"
		w.prefix = iter
		next, v, done, err := body(w, i, state)
		w.prefix = outer
		if err != nil {
			return zero, err
		}
		w.forget(iter)
		if done {
			w.forget(cursor)
			return Step(w, name, func(*Ctx[S]) (T, error) { return v, nil })
		}
		if err := w.put(cursor, loopCursor[L]{Next: i + 1, State: next}); err != nil {
			return zero, err
		}
		if err := w.checkpoint(); err != nil {
			return zero, err
		}
		if err := w.h.Err(); err != nil {
			return zero, err
		}
		state = next
	}
}

// loopCursor is what LoopWithState checkpoints after each iteration.
type loopCursor[L any] struct {
	Next  int `cbor:"next"`
	State L   `cbor:"state"`
}

// put stages a completed record of key with result v (an internal record
// that is rewritten, unlike a Step's).
func (w *Workflow[S]) put(key string, v any) error {
	b, err := Marshal(v)
	if err != nil {
		return fmt.Errorf("rivet: workflow record %q: %w", key, err)
	}
	if len(b) > store.MaxStepResultSize {
		return fmt.Errorf("rivet: workflow record %q is %d bytes, limit is %d", key, len(b), store.MaxStepResultSize)
	}
	prev, _ := w.h.Step(key)
	seq := prev.Seq
	if seq == 0 {
		seq = w.h.NextSeq()
	}
	started := prev.StartedAt
	now := time.Now().UTC()
	if started.IsZero() {
		started = now
	}
	w.record(store.WorkflowStep{Seq: seq, Name: key, Status: store.StepCompleted, Result: b, Attempts: prev.Attempts + 1, StartedAt: started, FinishedAt: now})
	return nil
}

// forget stages the deletion of every record whose name starts with
// prefix, in the next commit.
func (w *Workflow[S]) forget(prefix string) { w.h.Forget(prefix) }

func validStepName(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "[]/$") {
		return fmt.Errorf("rivet: step name %q: want 1 to 200 bytes without [ ] / $", name)
	}
	return nil
}

// runWorkflow runs the actor's workflow function as its Run loop.
func runWorkflow[S any](t *typed[S], ctx context.Context, q *Queue) error {
	h, err := q.LoadHistory(ctx, WorkflowRun)
	if err != nil {
		return err
	}
	w := &Workflow[S]{c: t.ctx(ctx, nil), h: h}
	if st, ok := h.Step(wfDone); ok && st.Status == "completed" {
		return nil // finished in an earlier activation
	}
	if err := t.a.opts.Workflow(w); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	w.record(store.WorkflowStep{Seq: w.h.NextSeq(), Name: wfDone, Status: "completed", Result: []byte{0xf6}, Attempts: 1, StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC()})
	return nil
}
