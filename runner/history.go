package runner

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/store"
)

// History is the durable step history of one workflow run of an actor, as
// the Run loop that executes the workflow sees it. The typed workflow API
// (rivet.Workflow, rivet.Step) decides what to record; History keeps the
// records, stages them in the next commit and hands the mailbox over at
// checkpoints and waits. It is used only from the Run goroutine while it
// holds the actor.
type History struct {
	in    *Instance
	q     *Queue
	run   string
	steps map[string]store.WorkflowStep
	seq   uint64
}

// LoadHistory reads the recorded steps of run.
func (q *Queue) LoadHistory(ctx context.Context, run string) (*History, error) {
	steps, err := q.in.rt.store.ListWorkflowSteps(ctx, q.in.id, run)
	if err != nil {
		return nil, errs.FromStore(err)
	}
	h := &History{in: q.in, q: q, run: run, steps: make(map[string]store.WorkflowStep, len(steps))}
	for _, s := range steps {
		h.steps[s.Name] = s
		h.seq = max(h.seq, s.Seq)
	}
	return h, nil
}

// Step returns the record of key, if any.
func (h *History) Step(key string) (store.WorkflowStep, bool) {
	st, ok := h.steps[key]
	return st, ok
}

// NextSeq allocates the next record sequence number.
func (h *History) NextSeq() uint64 {
	h.seq++
	return h.seq
}

// Record stages a step record for the next commit.
func (h *History) Record(st store.WorkflowStep) {
	st.ActorID, st.Workflow = h.in.id, h.run
	h.steps[st.Name] = st
	pw := h.in.pending()
	pw.wfPuts = append(pw.wfPuts, st)
}

// Forget stages the deletion of every record whose name starts with
// prefix, in the next commit, and drops them from the replay map.
func (h *History) Forget(prefix string) {
	for k := range h.steps {
		if strings.HasPrefix(k, prefix) {
			delete(h.steps, k)
		}
	}
	pw := h.in.pending()
	puts := pw.wfPuts[:0]
	for _, st := range pw.wfPuts {
		if !strings.HasPrefix(st.Name, prefix) {
			puts = append(puts, st)
		}
	}
	pw.wfPuts = puts
	pw.wfPrefixDels = append(pw.wfPrefixDels, store.StepPrefix{Workflow: h.run, Prefix: prefix})
}

// Checkpoint commits what the workflow did so far (step records, state,
// KV, acks): the Run loop lets go of the actor and takes it back, which
// ends the mailbox task and flushes it. Actions may run in between.
func (h *History) Checkpoint() error {
	h.q.rl.release()
	return h.q.rl.acquire(context.Background())
}

// Wait lets go of the actor for d (actions run meanwhile), committing
// first, and takes it back. It ends early when the Run loop is cancelled.
func (h *History) Wait(d time.Duration) error {
	rl := h.q.rl
	rl.release()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-rl.ctx.Done():
		_ = rl.acquire(context.Background())
		return rl.ctx.Err()
	}
	return rl.acquire(context.Background())
}

// Err reports why the Run loop was cancelled (nil while it runs).
func (h *History) Err() error { return h.q.rl.ctx.Err() }

// Take takes the next message of names (any queue when none) for a step
// that records it: the message is acknowledged in the same commit as the
// step's record.
func (h *History) Take(ctx context.Context, names ...string) (*Message, error) {
	msg, err := h.q.Next(ctx, names...)
	if err != nil {
		return nil, err
	}
	_ = msg.Complete(nil)
	h.q.rl.current = nil
	return msg, nil
}

// ScheduleWake makes sure the actor is woken at t (for a durable sleep).
func (h *History) ScheduleWake(t time.Time) {
	in := h.in
	sc := store.Schedule{ActorID: in.id, ID: "wake-" + uuid.NewString(), At: t.UTC(), Action: wakeAction}
	in.putSchedule(sc)
	pw := in.pending()
	pw.schedPuts = append(pw.schedPuts, sc)
}

// TraceStep records a step's span for the inspector.
func (h *History) TraceStep(name string, start, end time.Time, err error) {
	sp := span{Name: name, Kind: "step", Start: start, End: end}
	if err != nil {
		sp.Err = err.Error()
	}
	h.in.traces.add(sp)
}

// Log returns the actor's logger.
func (h *History) Log() *slog.Logger { return h.in.logger() }

// wakeAction is the internal schedule action that only wakes the actor.
const wakeAction = "$wake"
