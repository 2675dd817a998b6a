package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// queueTests are the subtests of durable queues, schedules and workflow
// history.
var queueTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"QueueOrder", testQueueOrder},
	{"QueueSeqNotReused", testQueueSeqNotReused},
	{"QueueNameFilter", testQueueNameFilter},
	{"QueuePaging", testQueuePaging},
	{"QueueFull", testQueueFull},
	{"QueueFullConcurrent", testQueueFullConcurrent},
	{"QueueErrors", testQueueErrors},
	{"QueueAcksAtomic", testQueueAcksAtomic},
	{"Schedules", testSchedules},
	{"NextDue", testNextDue},
	{"DueActors", testDueActors},
	{"WorkflowSteps", testWorkflowSteps},
	{"DestroyWipesQueues", testDestroyWipesQueues},
	{"QueueLimits", testQueueLimits},
}

// ---- helpers ----

func mustEnqueue(t *testing.T, s store.Store, id, name string, body []byte, max int) store.QueueMessage {
	t.Helper()
	m, err := s.Enqueue(context.Background(), id, name, body, max)
	if err != nil {
		t.Fatalf("Enqueue(%s, %q): %v", id, name, err)
	}
	return m
}

func mustListQueue(t *testing.T, s store.Store, id string, after uint64, names []string, limit int) []store.QueueMessage {
	t.Helper()
	ms, err := s.ListQueue(context.Background(), id, after, names, limit)
	if err != nil {
		t.Fatalf("ListQueue(%s, after %d, %q, %d): %v", id, after, names, limit, err)
	}
	return ms
}

func mustQueueLen(t *testing.T, s store.Store, id string) int {
	t.Helper()
	n, err := s.QueueLen(context.Background(), id)
	if err != nil {
		t.Fatalf("QueueLen(%s): %v", id, err)
	}
	return n
}

func seqs(ms []store.QueueMessage) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func sameMessages(t *testing.T, what string, want, got []store.QueueMessage) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: %d messages %v, want %d %v", what, len(got), seqs(got), len(want), seqs(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.ActorID != g.ActorID || w.Seq != g.Seq || w.Name != g.Name || !bytes.Equal(w.Body, g.Body) ||
			g.Body == nil || !w.EnqueuedAt.Equal(g.EnqueuedAt) {
			t.Fatalf("%s: message %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func mustSchedules(t *testing.T, s store.Store, id string) []store.Schedule {
	t.Helper()
	scs, err := s.ListSchedules(context.Background(), id)
	if err != nil {
		t.Fatalf("ListSchedules(%s): %v", id, err)
	}
	for _, sc := range scs {
		if sc.ActorID != id || sc.Args == nil || !recent(sc.CreatedAt) {
			t.Fatalf("ListSchedules(%s): schedule %+v", id, sc)
		}
	}
	return scs
}

// scheduleIDs returns "id@offset" for each schedule, offset from base.
func scheduleIDs(scs []store.Schedule, base time.Time) []string {
	out := make([]string, len(scs))
	for i, sc := range scs {
		out[i] = fmt.Sprintf("%s@%v", sc.ID, sc.At.Sub(base))
	}
	return out
}

func mustNextDue(t *testing.T, s store.Store, id string) time.Time {
	t.Helper()
	next, err := s.NextDue(context.Background(), id)
	if err != nil {
		t.Fatalf("NextDue(%s): %v", id, err)
	}
	return next
}

func mustSteps(t *testing.T, s store.Store, id, workflow string) []store.WorkflowStep {
	t.Helper()
	sts, err := s.ListWorkflowSteps(context.Background(), id, workflow)
	if err != nil {
		t.Fatalf("ListWorkflowSteps(%s, %q): %v", id, workflow, err)
	}
	return sts
}

func stepNames(sts []store.WorkflowStep) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.Workflow + "/" + st.Name
	}
	return out
}

func sameSteps(t *testing.T, what string, want, got []store.WorkflowStep) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%s: steps %v, want %v", what, stepNames(got), stepNames(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.ActorID != g.ActorID || w.Workflow != g.Workflow || w.Seq != g.Seq || w.Name != g.Name ||
			w.Status != g.Status || !bytes.Equal(w.Result, g.Result) || (w.Result == nil) != (g.Result == nil) ||
			w.Error != g.Error || w.Attempts != g.Attempts || !w.StartedAt.Equal(g.StartedAt) || !w.FinishedAt.Equal(g.FinishedAt) {
			t.Fatalf("%s: step %d = %+v, want %+v", what, i, g, w)
		}
	}
}

// dueActors returns DueActors' answer (with a limit large enough for
// every due actor of the concurrently running subtests).
func dueActors(t *testing.T, s store.Store) []string {
	t.Helper()
	as, err := s.DueActors(context.Background(), 1000)
	if err != nil {
		t.Fatalf("DueActors: %v", err)
	}
	return as
}

// commitOne commits one write and returns its outcome.
func commitOne(t *testing.T, s store.Store, w store.Write) error {
	t.Helper()
	errs, err := s.Commit(context.Background(), []store.Write{w})
	if err != nil {
		t.Fatalf("Commit: batch error: %v", err)
	}
	return errs[0]
}

// usec returns a time of microsecond precision (what the stores keep)
// offset d from now.
func usec(d time.Duration) time.Time { return time.Now().Add(d).Truncate(time.Microsecond) }

// ---- queue ----

func testQueueOrder(t *testing.T, s store.Store) {
	ns := newNS()
	a := mustCreate(t, s, spec(t, ns, "q", "a"))
	other := mustCreate(t, s, spec(t, ns, "q", "other"))
	var want []store.QueueMessage
	for i, name := range []string{"a", "b", "a", "c", "a"} {
		body := []byte{0x82, byte(i), 0x61}
		if i == 3 {
			body = nil // an empty body reads back empty, not nil
		}
		m := mustEnqueue(t, s, a.ID, name, body, 0)
		if m.ActorID != a.ID || m.Name != name || !bytes.Equal(m.Body, body) || !recent(m.EnqueuedAt) {
			t.Fatalf("Enqueue %d returned %+v", i, m)
		}
		if len(want) > 0 && m.Seq <= want[len(want)-1].Seq {
			t.Fatalf("Enqueue %d: seq %d after %d", i, m.Seq, want[len(want)-1].Seq)
		}
		if i == 0 {
			mustEnqueue(t, s, other.ID, "a", []byte{1}, 0) // interleaved sends to another actor
		}
		m.Body = bytes.Clone(body)
		if m.Body == nil {
			m.Body = []byte{}
		}
		want = append(want, m)
	}
	sameMessages(t, "ListQueue", want, mustListQueue(t, s, a.ID, 0, nil, 0))
	if n := mustQueueLen(t, s, a.ID); n != 5 {
		t.Fatalf("QueueLen = %d, want 5", n)
	}
	if n := mustQueueLen(t, s, other.ID); n != 1 {
		t.Fatalf("QueueLen(other) = %d, want 1", n)
	}
	if ms := mustListQueue(t, s, other.ID, 0, nil, 0); len(ms) != 1 || ms[0].ActorID != other.ID {
		t.Fatalf("other actor's queue = %+v", ms)
	}
}

func testQueueSeqNotReused(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "q")).ID)
	m1 := mustEnqueue(t, s, a.ID, "m", []byte{1}, 0)
	m2 := mustEnqueue(t, s, a.ID, "m", []byte{2}, 0)
	m3 := mustEnqueue(t, s, a.ID, "m", []byte{3}, 0)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{m1.Seq, m3.Seq, m3.Seq + 1000}})
	if got := seqs(mustListQueue(t, s, a.ID, 0, nil, 0)); !slices.Equal(got, []uint64{m2.Seq}) {
		t.Fatalf("after acking %d and %d: queue %v, want [%d]", m1.Seq, m3.Seq, got, m2.Seq)
	}
	if n := mustQueueLen(t, s, a.ID); n != 1 {
		t.Fatalf("QueueLen after acks = %d, want 1", n)
	}
	// Acking an acked message again changes nothing.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{m1.Seq}})
	if n := mustQueueLen(t, s, a.ID); n != 1 {
		t.Fatalf("QueueLen after a repeated ack = %d, want 1", n)
	}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{m2.Seq}})
	if ms := mustListQueue(t, s, a.ID, 0, nil, 0); len(ms) != 0 || mustQueueLen(t, s, a.ID) != 0 {
		t.Fatalf("queue after acking everything: %v", seqs(ms))
	}
	// The queue is empty, but its seqs are not handed out again, not even
	// across a new activation.
	m4 := mustEnqueue(t, s, a.ID, "m", []byte{4}, 0)
	if m4.Seq <= m3.Seq {
		t.Fatalf("seq %d after the queue emptied, want > %d", m4.Seq, m3.Seq)
	}
	if err := s.Deactivate(ctx, a.ID, a.Generation); err != nil {
		t.Fatal(err)
	}
	a = mustActivate(t, s, a.ID)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{m4.Seq}})
	if m5 := mustEnqueue(t, s, a.ID, "m", nil, 0); m5.Seq <= m4.Seq {
		t.Fatalf("seq %d after re-activation, want > %d", m5.Seq, m4.Seq)
	}
}

func testQueueNameFilter(t *testing.T, s store.Store) {
	a := mustCreate(t, s, spec(t, newNS(), "q"))
	bySeq := map[uint64]string{}
	var all []uint64
	for _, name := range []string{"a", "b", "c", "a", "b", "a", "ab"} {
		m := mustEnqueue(t, s, a.ID, name, []byte(name), 0)
		bySeq[m.Seq] = name
		all = append(all, m.Seq)
	}
	pick := func(names ...string) []uint64 {
		var out []uint64
		for _, seq := range all {
			if slices.Contains(names, bySeq[seq]) {
				out = append(out, seq)
			}
		}
		return out
	}
	for _, tc := range []struct {
		names []string
		after uint64
		limit int
		want  []uint64
	}{
		{names: []string{"a"}, want: pick("a")},
		{names: []string{"a", "c"}, want: pick("a", "c")},
		{names: []string{"c", "a"}, want: pick("a", "c")},
		{names: []string{"ab"}, want: pick("ab")},
		{names: []string{"zzz"}, want: nil},
		{names: []string{"a"}, after: pick("a")[0], want: pick("a")[1:]},
		{names: []string{"a"}, limit: 2, want: pick("a")[:2]},
		{names: []string{"b", "zzz"}, after: pick("b")[0], limit: 1, want: pick("b")[1:]},
		{names: []string{}, want: all},
	} {
		got := mustListQueue(t, s, a.ID, tc.after, tc.names, tc.limit)
		if !slices.Equal(seqs(got), tc.want) {
			t.Fatalf("ListQueue(names %q, after %d, limit %d) = %v, want %v", tc.names, tc.after, tc.limit, seqs(got), tc.want)
		}
		for _, m := range got {
			if string(m.Body) != m.Name || m.Name != bySeq[m.Seq] {
				t.Fatalf("message %d: name %q body %q", m.Seq, m.Name, m.Body)
			}
		}
	}
}

func testQueuePaging(t *testing.T, s store.Store) {
	a := mustCreate(t, s, spec(t, newNS(), "q"))
	var all []uint64
	for i := range 25 {
		all = append(all, mustEnqueue(t, s, a.ID, "m", []byte{byte(i)}, 0).Seq)
	}
	var got []uint64
	var sizes []int
	after := uint64(0)
	for {
		page := mustListQueue(t, s, a.ID, after, nil, 10)
		if len(page) == 0 {
			break
		}
		sizes = append(sizes, len(page))
		got = append(got, seqs(page)...)
		after = page[len(page)-1].Seq
		if len(sizes) > 10 {
			t.Fatal("paging does not end")
		}
	}
	if !slices.Equal(got, all) || !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Fatalf("paged %v in pages %v, want %v in pages [10 10 5]", got, sizes, all)
	}
	// Mid-page cursor, default limit, cursors past the end.
	if page := mustListQueue(t, s, a.ID, all[12], nil, 3); !slices.Equal(seqs(page), all[13:16]) {
		t.Fatalf("page after %d = %v, want %v", all[12], seqs(page), all[13:16])
	}
	if page := mustListQueue(t, s, a.ID, 0, nil, 0); len(page) != 25 {
		t.Fatalf("default limit returned %d of 25 messages", len(page))
	}
	for _, after := range []uint64{all[24], math.MaxInt64, math.MaxUint64} {
		if page := mustListQueue(t, s, a.ID, after, nil, 10); len(page) != 0 {
			t.Fatalf("page after %d = %v, want none", after, seqs(page))
		}
	}
}

func testQueueFull(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "q")).ID)
	var ms []store.QueueMessage
	for range 3 {
		ms = append(ms, mustEnqueue(t, s, a.ID, "m", nil, 3))
	}
	_, err := s.Enqueue(ctx, a.ID, "m", nil, 3)
	wantErr(t, "Enqueue at max", err, store.ErrQueueFull)
	_, err = s.Enqueue(ctx, a.ID, "other", nil, 2)
	wantErr(t, "Enqueue above max", err, store.ErrQueueFull)
	if n := mustQueueLen(t, s, a.ID); n != 3 {
		t.Fatalf("QueueLen after ErrQueueFull = %d, want 3", n)
	}
	// max <= 0: no limit.
	mustEnqueue(t, s, a.ID, "m", nil, 0)
	mustEnqueue(t, s, a.ID, "m", nil, -1)
	_, err = s.Enqueue(ctx, a.ID, "m", nil, 5)
	wantErr(t, "Enqueue at max 5", err, store.ErrQueueFull)
	// An ack makes room.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{ms[0].Seq}})
	mustEnqueue(t, s, a.ID, "m", nil, 5)
	_, err = s.Enqueue(ctx, a.ID, "m", nil, 5)
	wantErr(t, "Enqueue at max 5 again", err, store.ErrQueueFull)
	if n := mustQueueLen(t, s, a.ID); n != 5 {
		t.Fatalf("QueueLen = %d, want 5", n)
	}
}

func testQueueFullConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	const senders, tries, max = 16, 3, 5
	for round := range 2 {
		a := mustCreate(t, s, spec(t, ns, "q", fmt.Sprint(round)))
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			sent  []uint64
			full  int
			other []error
		)
		start := make(chan struct{})
		for i := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for range tries {
					m, err := s.Enqueue(ctx, a.ID, "m", []byte{byte(i)}, max)
					mu.Lock()
					switch {
					case err == nil:
						sent = append(sent, m.Seq)
					case errors.Is(err, store.ErrQueueFull):
						full++
					default:
						other = append(other, err)
					}
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(other) > 0 {
			t.Fatalf("concurrent Enqueue failed: %v", other)
		}
		if len(sent) != max || full != senders*tries-max {
			t.Fatalf("%d concurrent senders with max %d: %d sent, %d ErrQueueFull", senders, max, len(sent), full)
		}
		slices.Sort(sent)
		if got := seqs(mustListQueue(t, s, a.ID, 0, nil, 0)); !slices.Equal(got, sent) {
			t.Fatalf("queue %v, want the %d acknowledged sends %v", got, max, sent)
		}
		if n := mustQueueLen(t, s, a.ID); n != max {
			t.Fatalf("QueueLen = %d, want %d", n, max)
		}
	}
}

func testQueueErrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.Enqueue(ctx, "no-such-actor", "m", nil, 0)
	wantErr(t, "Enqueue(missing)", err, store.ErrNotFound)
	_, err = s.ListQueue(ctx, "no-such-actor", 0, nil, 0)
	wantErr(t, "ListQueue(missing)", err, store.ErrNotFound)
	_, err = s.ListQueue(ctx, "no-such-actor", 0, []string{"m"}, 0)
	wantErr(t, "ListQueue(missing, names)", err, store.ErrNotFound)
	_, err = s.QueueLen(ctx, "no-such-actor")
	wantErr(t, "QueueLen(missing)", err, store.ErrNotFound)
	_, err = s.ListSchedules(ctx, "no-such-actor")
	wantErr(t, "ListSchedules(missing)", err, store.ErrNotFound)
	_, err = s.NextDue(ctx, "no-such-actor")
	wantErr(t, "NextDue(missing)", err, store.ErrNotFound)
	_, err = s.ListWorkflowSteps(ctx, "no-such-actor", "")
	wantErr(t, "ListWorkflowSteps(missing)", err, store.ErrNotFound)
	_, err = s.ListWorkflowSteps(ctx, "no-such-actor", "wf")
	wantErr(t, "ListWorkflowSteps(missing, run)", err, store.ErrNotFound)

	// Writes to a missing actor fail like any other write.
	err = commitOne(t, s, store.Write{ActorID: "no-such-actor", Generation: 1, QueueAcks: []uint64{1},
		SchedulePuts: []store.Schedule{{ID: "s", At: usec(time.Hour), Action: "a"}}})
	wantErr(t, "Commit(missing) with queue parts", err, store.ErrNotFound)

	// An existing actor with nothing queued answers empty, not an error.
	a := mustCreate(t, s, spec(t, newNS(), "q"))
	if ms := mustListQueue(t, s, a.ID, 0, nil, 0); len(ms) != 0 {
		t.Fatalf("fresh actor has messages %v", seqs(ms))
	}
	if n := mustQueueLen(t, s, a.ID); n != 0 {
		t.Fatalf("fresh actor QueueLen = %d", n)
	}
	if scs := mustSchedules(t, s, a.ID); len(scs) != 0 {
		t.Fatalf("fresh actor has schedules %+v", scs)
	}
	if next := mustNextDue(t, s, a.ID); !next.IsZero() {
		t.Fatalf("fresh actor NextDue = %v", next)
	}
	if sts := mustSteps(t, s, a.ID, ""); len(sts) != 0 {
		t.Fatalf("fresh actor has steps %v", stepNames(sts))
	}
}

func testQueueAcksAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustCreate(t, s, spec(t, newNS(), "q"))
	staleGen := mustActivate(t, s, a.ID).Generation
	a = mustActivate(t, s, a.ID)
	m1 := mustEnqueue(t, s, a.ID, "m", []byte{1}, 0)
	m2 := mustEnqueue(t, s, a.ID, "m", []byte{2}, 0)
	m3 := mustEnqueue(t, s, a.ID, "m", []byte{3}, 0)
	at := usec(time.Hour)
	writes := []store.Write{
		// Fenced: its ack, state, schedule and step must not apply.
		{ActorID: a.ID, Generation: staleGen, State: []byte("stale"), QueueAcks: []uint64{m1.Seq},
			SchedulePuts:  []store.Schedule{{ID: "stale", At: at, Action: "x"}},
			WorkflowSteps: []store.WorkflowStep{{Workflow: "wf", Name: "stale", Seq: 1, Status: store.StepRunning}}},
		// Invalid (an empty action): nothing of it applies either.
		{ActorID: a.ID, Generation: a.Generation, State: []byte("invalid"), QueueAcks: []uint64{m2.Seq},
			SchedulePuts:  []store.Schedule{{ID: "invalid", At: at}},
			WorkflowSteps: []store.WorkflowStep{{Workflow: "wf", Name: "invalid", Seq: 1, Status: store.StepRunning}}},
		// Good: everything applies together.
		{ActorID: a.ID, Generation: a.Generation, State: []byte("ok"), QueueAcks: []uint64{m3.Seq},
			SchedulePuts:  []store.Schedule{{ID: "ok", At: at, Action: "x"}},
			WorkflowSteps: []store.WorkflowStep{{Workflow: "wf", Name: "ok", Seq: 1, Status: store.StepRunning}}},
	}
	errs, err := s.Commit(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "fenced write with acks", errs[0], store.ErrFenced)
	wantErr(t, "invalid write with acks", errs[1], store.ErrInvalid)
	if errs[2] != nil {
		t.Fatalf("good write with acks: %v", errs[2])
	}
	if got := seqs(mustListQueue(t, s, a.ID, 0, nil, 0)); !slices.Equal(got, []uint64{m1.Seq, m2.Seq}) {
		t.Fatalf("queue = %v, want [%d %d] (only the good write's ack applied)", got, m1.Seq, m2.Seq)
	}
	if n := mustQueueLen(t, s, a.ID); n != 2 {
		t.Fatalf("QueueLen = %d, want 2", n)
	}
	if st, _ := s.LoadState(ctx, a.ID, a.Generation); string(st) != "ok" {
		t.Fatalf("state = %q, want ok", st)
	}
	if scs := mustSchedules(t, s, a.ID); len(scs) != 1 || scs[0].ID != "ok" {
		t.Fatalf("schedules = %v, want [ok]", scheduleIDs(scs, at))
	}
	if sts := mustSteps(t, s, a.ID, "wf"); len(sts) != 1 || sts[0].Name != "ok" {
		t.Fatalf("steps = %v, want [wf/ok]", stepNames(sts))
	}
	// A later write of the same batch sees an earlier one's acks.
	mustCommit(t, s,
		store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{m1.Seq}},
		store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{m1.Seq, m2.Seq}})
	if n := mustQueueLen(t, s, a.ID); n != 0 {
		t.Fatalf("QueueLen after overlapping acks in one batch = %d, want 0", n)
	}
}

// ---- schedules ----

func testSchedules(t *testing.T, s store.Store) {
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "sched")).ID)
	base := usec(time.Hour)
	put := func(scs ...store.Schedule) store.Write {
		return store.Write{ActorID: a.ID, Generation: a.Generation, SchedulePuts: scs}
	}
	args := []byte{0x82, 0x01, 0x61, 0x78}
	mustCommit(t, s, put(
		store.Schedule{ID: "s-b", At: base.Add(2 * time.Minute), Action: "tick", Args: args},
		store.Schedule{ID: "s-c", At: base.Add(time.Minute), Action: "tick", Args: []byte{0x80}},
		store.Schedule{ActorID: a.ID, ID: "s-a", At: base.Add(time.Minute), Action: "tock"}, // nil args
		store.Schedule{ID: "s-d", At: base.Add(3 * time.Minute), Action: "tick", Args: args},
	))
	scs := mustSchedules(t, s, a.ID)
	want := []string{"s-a@1m0s", "s-c@1m0s", "s-b@2m0s", "s-d@3m0s"}
	if got := scheduleIDs(scs, base); !slices.Equal(got, want) {
		t.Fatalf("ListSchedules = %v, want %v (by At, then ID)", got, want)
	}
	if scs[0].Action != "tock" || len(scs[0].Args) != 0 || scs[2].Action != "tick" || !bytes.Equal(scs[2].Args, args) {
		t.Fatalf("schedule fields: %+v", scs)
	}
	created := scs[2].CreatedAt

	// Upsert moves s-d first and changes its action; no duplicate appears.
	mustCommit(t, s, put(store.Schedule{ID: "s-d", At: base, Action: "moved", Args: []byte{0x81, 0x02}}))
	scs = mustSchedules(t, s, a.ID)
	want = []string{"s-d@0s", "s-a@1m0s", "s-c@1m0s", "s-b@2m0s"}
	if got := scheduleIDs(scs, base); !slices.Equal(got, want) {
		t.Fatalf("after upsert: %v, want %v", got, want)
	}
	if scs[0].Action != "moved" || !bytes.Equal(scs[0].Args, []byte{0x81, 0x02}) || scs[0].CreatedAt.Before(created) {
		t.Fatalf("upserted schedule: %+v", scs[0])
	}

	// Deletes (unknown IDs ignored); a delete and a put of one ID in one
	// write: the put wins; the last of two puts of one ID wins.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation,
		ScheduleDeletes: []string{"s-a", "s-c", "never"},
		SchedulePuts: []store.Schedule{
			{ID: "s-c", At: base.Add(5 * time.Minute), Action: "again"},
			{ID: "s-e", At: base.Add(6 * time.Minute), Action: "first"},
			{ID: "s-e", At: base.Add(7 * time.Minute), Action: "second"},
		}})
	scs = mustSchedules(t, s, a.ID)
	want = []string{"s-d@0s", "s-b@2m0s", "s-c@5m0s", "s-e@7m0s"}
	if got := scheduleIDs(scs, base); !slices.Equal(got, want) {
		t.Fatalf("after deletes and puts: %v, want %v", got, want)
	}
	if scs[2].Action != "again" || scs[3].Action != "second" {
		t.Fatalf("after deletes and puts: %+v", scs)
	}

	// A fenced write changes no schedule.
	b := mustActivate(t, s, a.ID)
	err := commitOne(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, ScheduleDeletes: []string{"s-b"},
		SchedulePuts: []store.Schedule{{ID: "s-z", At: base, Action: "zombie"}}})
	wantErr(t, "fenced schedule write", err, store.ErrFenced)
	if got := scheduleIDs(mustSchedules(t, s, a.ID), base); !slices.Equal(got, want) {
		t.Fatalf("after a fenced write: %v, want %v", got, want)
	}

	// Times are kept to the microsecond.
	fine := time.Unix(base.Unix()+86400, 123456789)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: b.Generation,
		SchedulePuts: []store.Schedule{{ID: "fine", At: fine, Action: "x"}}})
	scs = mustSchedules(t, s, a.ID)
	if last := scs[len(scs)-1]; last.ID != "fine" || !last.At.Equal(time.Unix(fine.Unix(), 123456000)) {
		t.Fatalf("schedule at %v read back as %v, want it truncated to the microsecond", fine, last.At)
	}

	// Deleting all leaves none.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: b.Generation, ScheduleDeletes: []string{"s-b", "s-c", "s-d", "s-e", "fine"}})
	if scs := mustSchedules(t, s, a.ID); len(scs) != 0 {
		t.Fatalf("after deleting all: %v", scheduleIDs(scs, base))
	}
}

func testNextDue(t *testing.T, s store.Store) {
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "next")).ID)
	if next := mustNextDue(t, s, a.ID); !next.IsZero() {
		t.Fatalf("NextDue without schedules = %v, want zero", next)
	}
	base := usec(time.Hour)
	w := func(del []string, scs ...store.Schedule) {
		mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, ScheduleDeletes: del, SchedulePuts: scs})
	}
	w(nil, store.Schedule{ID: "late", At: base.Add(time.Hour), Action: "x"}, store.Schedule{ID: "early", At: base, Action: "x"})
	if next := mustNextDue(t, s, a.ID); !next.Equal(base) {
		t.Fatalf("NextDue = %v, want %v", next, base)
	}
	// A past schedule is still the next one (due now).
	past := usec(-time.Hour)
	w(nil, store.Schedule{ID: "past", At: past, Action: "x"})
	if next := mustNextDue(t, s, a.ID); !next.Equal(past) {
		t.Fatalf("NextDue with a past schedule = %v, want %v", next, past)
	}
	w([]string{"past", "early"})
	if next := mustNextDue(t, s, a.ID); !next.Equal(base.Add(time.Hour)) {
		t.Fatalf("NextDue after deletes = %v, want %v", next, base.Add(time.Hour))
	}
	// Moving the only schedule moves NextDue.
	w(nil, store.Schedule{ID: "late", At: base.Add(2 * time.Hour), Action: "x"})
	if next := mustNextDue(t, s, a.ID); !next.Equal(base.Add(2 * time.Hour)) {
		t.Fatalf("NextDue after moving = %v, want %v", next, base.Add(2*time.Hour))
	}
	w([]string{"late"})
	if next := mustNextDue(t, s, a.ID); !next.IsZero() {
		t.Fatalf("NextDue after deleting all = %v, want zero", next)
	}
}

func testDueActors(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	mk := func(name string) store.Actor { return mustCreate(t, s, spec(t, ns, "due", name)) }
	schedule := func(a store.Actor, id string, at time.Time) {
		t.Helper()
		mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation,
			SchedulePuts: []store.Schedule{{ID: id, At: at, Action: "wake"}}})
	}
	sleep := func(a store.Actor) {
		t.Helper()
		if err := s.Deactivate(ctx, a.ID, a.Generation); err != nil {
			t.Fatal(err)
		}
	}

	// Due at MinTime: no other subtest schedules that early, so it is the
	// earliest due actor of the whole store.
	oldest := mustActivate(t, s, mk("oldest").ID)
	schedule(oldest, "s", store.MinTime)
	sleep(oldest)
	// Due an hour ago, asleep, with a far-future schedule too.
	pastSleep := mustActivate(t, s, mk("past-sleep").ID)
	schedule(pastSleep, "s", usec(-time.Hour))
	schedule(pastSleep, "later", usec(50*365*24*time.Hour))
	sleep(pastSleep)
	// Due half an hour ago and awake: a due schedule counts while awake.
	pastAwake := mustActivate(t, s, mk("past-awake").ID)
	schedule(pastAwake, "s", usec(-30*time.Minute))
	// Only a far-future schedule: not due.
	future := mustActivate(t, s, mk("future").ID)
	schedule(future, "s", usec(50*365*24*time.Hour))
	sleep(future)
	// Queued messages while asleep: never activated, or deactivated.
	queuedNew := mk("queued-new")
	mustEnqueue(t, s, queuedNew.ID, "m", nil, 0)
	queuedSlept := mustActivate(t, s, mk("queued-slept").ID)
	sleep(queuedSlept)
	qm := mustEnqueue(t, s, queuedSlept.ID, "m", nil, 0)
	// A later message does not make queuedNew due later: its oldest counts.
	mustEnqueue(t, s, queuedNew.ID, "m", nil, 0)
	// Queued messages while awake: the running instance handles them.
	queuedAwake := mustActivate(t, s, mk("queued-awake").ID)
	mustEnqueue(t, s, queuedAwake.ID, "m", nil, 0)
	// Destroyed with a due schedule and messages, asleep: never due.
	gone := mustActivate(t, s, mk("gone").ID)
	schedule(gone, "s", usec(-2*time.Hour))
	mustEnqueue(t, s, gone.ID, "m", nil, 0)
	sleep(gone)
	if _, err := s.DestroyActor(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	// Nothing at all.
	idle := mk("idle")

	check := func(what string, wantDue []string, wantNot ...string) {
		t.Helper()
		got := dueActors(t, s)
		var mine []string
		for _, id := range got {
			if slices.Contains(wantDue, id) || slices.Contains(wantNot, id) {
				mine = append(mine, id)
			}
		}
		if !slices.Equal(mine, wantDue) {
			name := map[string]string{}
			for _, a := range []store.Actor{oldest, pastSleep, pastAwake, future, queuedNew, queuedSlept, queuedAwake, gone, idle} {
				name[a.ID] = a.Key[0]
			}
			var g, w []string
			for _, id := range mine {
				g = append(g, name[id])
			}
			for _, id := range wantDue {
				w = append(w, name[id])
			}
			t.Fatalf("%s: DueActors has %v (in this order), want %v", what, g, w)
		}
	}
	all := []string{oldest.ID, pastSleep.ID, pastAwake.ID, future.ID, queuedNew.ID, queuedSlept.ID, queuedAwake.ID, gone.ID, idle.ID}
	// Earliest due first; the two queued actors are due at their messages,
	// in send order.
	check("initially", []string{oldest.ID, pastSleep.ID, pastAwake.ID, queuedNew.ID, queuedSlept.ID}, all...)
	if got, err := s.DueActors(ctx, 1); err != nil || !slices.Equal(got, []string{oldest.ID}) {
		t.Fatalf("DueActors(limit 1) = %v (%v), want [%s]", got, err, oldest.ID)
	}

	// Handling the due schedule, acking the messages or waking the actor
	// makes it not due; a sleeping actor's new message makes it due.
	oldest = mustActivate(t, s, oldest.ID)
	mustCommit(t, s, store.Write{ActorID: oldest.ID, Generation: oldest.Generation, ScheduleDeletes: []string{"s"}})
	sleep(oldest)
	queuedSlept = mustActivate(t, s, queuedSlept.ID)
	mustCommit(t, s, store.Write{ActorID: queuedSlept.ID, Generation: queuedSlept.Generation, QueueAcks: []uint64{qm.Seq}})
	sleep(queuedSlept)
	mustActivate(t, s, queuedNew.ID)
	sleep(queuedAwake)
	mustEnqueue(t, s, idle.ID, "m", nil, 0)
	check("after handling", []string{pastSleep.ID, pastAwake.ID, queuedAwake.ID, idle.ID}, all...)
}

// ---- workflow steps ----

func testWorkflowSteps(t *testing.T, s store.Store) {
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "wf")).ID)
	t0 := usec(-time.Minute)
	w := func(del []string, sts ...store.WorkflowStep) store.Write {
		return store.Write{ActorID: a.ID, Generation: a.Generation, WorkflowDeletes: del, WorkflowSteps: sts}
	}
	step := func(wf, name string, seq uint64, status string) store.WorkflowStep {
		return store.WorkflowStep{ActorID: a.ID, Workflow: wf, Name: name, Seq: seq, Status: status, Attempts: 1, StartedAt: t0.Add(time.Duration(seq) * time.Second)}
	}
	sa := step("wf-1", "a", 1, store.StepCompleted)
	sa.Result, sa.FinishedAt = []byte{0xa1, 0x61, 0x6e, 0x01}, t0.Add(1500*time.Millisecond)
	sb := step("wf-1", "b", 2, store.StepRunning)
	sc := step("wf-1", "c", 3, store.StepFailed)
	sc.Error, sc.Attempts, sc.FinishedAt = "boom", 3, t0.Add(4*time.Second)
	sd := step("wf-1", "d", 4, store.StepCompleted)
	sd.Result = []byte{} // an empty result reads back empty, not nil
	other := step("wf-10", "a", 1, store.StepRunning)
	other.StartedAt = time.Time{}
	// Written out of order, across two commits; the step without an
	// ActorID takes the write's.
	sbNoActor := sb
	sbNoActor.ActorID = ""
	mustCommit(t, s, w(nil, sc, sbNoActor), w(nil, other, sa, sd))
	sameSteps(t, "run wf-1", []store.WorkflowStep{sa, sb, sc, sd}, mustSteps(t, s, a.ID, "wf-1"))
	sameSteps(t, "run wf-10", []store.WorkflowStep{other}, mustSteps(t, s, a.ID, "wf-10"))
	if sts := mustSteps(t, s, a.ID, "wf"); len(sts) != 0 {
		t.Fatalf("run wf (a prefix of others) = %v, want none", stepNames(sts))
	}

	// Upsert by name: b completes on its second attempt.
	sb.Status, sb.Attempts, sb.Result, sb.FinishedAt = store.StepCompleted, 2, []byte{0x05}, t0.Add(3*time.Second)
	mustCommit(t, s, w(nil, sb))
	sameSteps(t, "after upsert", []store.WorkflowStep{sa, sb, sc, sd}, mustSteps(t, s, a.ID, "wf-1"))
	// All runs: by Seq, then run, then name.
	sameSteps(t, "all runs", []store.WorkflowStep{sa, other, sb, sc, sd}, mustSteps(t, s, a.ID, ""))

	// The last of two puts of one step in a write wins.
	sc2 := sc
	sc2.Status, sc2.Attempts = store.StepRunning, 4
	sc3 := sc2
	sc3.Error = "boom again"
	mustCommit(t, s, w(nil, sc2, sc3))
	sameSteps(t, "after double put", []store.WorkflowStep{sa, sb, sc3, sd}, mustSteps(t, s, a.ID, "wf-1"))

	// A fenced write records nothing.
	staleGen := a.Generation
	a = mustActivate(t, s, a.ID)
	errs, err := s.Commit(context.Background(), []store.Write{{ActorID: a.ID, Generation: staleGen,
		WorkflowDeletes: []string{"wf-1"}, WorkflowSteps: []store.WorkflowStep{step("wf-2", "z", 1, store.StepRunning)}}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "fenced workflow write", errs[0], store.ErrFenced)
	sameSteps(t, "after a fenced write", []store.WorkflowStep{sa, other, sb, sc3, sd}, mustSteps(t, s, a.ID, ""))

	// WorkflowDeletes removes a whole run (not runs it prefixes); deletes
	// apply before the write's steps, so a run can restart in one write.
	restart := step("wf-1", "a", 1, store.StepRunning)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, WorkflowDeletes: []string{"wf-1", "never"},
		WorkflowSteps: []store.WorkflowStep{restart}})
	sameSteps(t, "after restarting wf-1", []store.WorkflowStep{restart}, mustSteps(t, s, a.ID, "wf-1"))
	sameSteps(t, "wf-10 after deleting wf-1", []store.WorkflowStep{other}, mustSteps(t, s, a.ID, "wf-10"))
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, WorkflowDeletes: []string{"wf-1"}})
	sameSteps(t, "after deleting wf-1", []store.WorkflowStep{other}, mustSteps(t, s, a.ID, ""))

	// StepPrefixDeletes removes the steps of one run whose names start with
	// the prefix (a finished loop iteration's), before the write's steps.
	l0a, l0b := step("wf-1", "loop[0]/a", 1, store.StepCompleted), step("wf-1", "loop[0]/b", 2, store.StepCompleted)
	l1a, l10 := step("wf-1", "loop[1]/a", 3, store.StepCompleted), step("wf-1", "loop[10]/a", 4, store.StepCompleted)
	keep := step("wf-1", "loop[0]", 5, store.StepCompleted) // the prefix without its "/"
	same := step("wf-10", "loop[0]/a", 2, store.StepCompleted)
	mustCommit(t, s, w(nil, l0a, l0b, l1a, l10, keep, same))
	cursor := step("wf-1", "loop[#]", 6, store.StepCompleted)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, WorkflowSteps: []store.WorkflowStep{cursor},
		StepPrefixDeletes: []store.StepPrefix{{Workflow: "wf-1", Prefix: "loop[0]/"}, {Workflow: "wf-1", Prefix: "loop[1]/"}, {Workflow: "wf-1", Prefix: "none/"}}})
	sameSteps(t, "after deleting the steps of loop iterations 0 and 1", []store.WorkflowStep{l10, keep, cursor}, mustSteps(t, s, a.ID, "wf-1"))
	sameSteps(t, "wf-10 after deleting prefixes of wf-1", []store.WorkflowStep{other, same}, mustSteps(t, s, a.ID, "wf-10"))
	// A step put in the same write as a prefix delete that covers it stays.
	again := step("wf-1", "loop[10]/a", 7, store.StepRunning)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, WorkflowSteps: []store.WorkflowStep{again},
		StepPrefixDeletes: []store.StepPrefix{{Workflow: "wf-1", Prefix: "loop["}}})
	sameSteps(t, "after a prefix delete and a put it covers", []store.WorkflowStep{again}, mustSteps(t, s, a.ID, "wf-1"))
}

// ---- destroy ----

func testDestroyWipesQueues(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, ns, "wipe", "k")).ID)
	keep := mustActivate(t, s, mustCreate(t, s, spec(t, ns, "wipe", "keep")).ID)
	past := usec(-time.Hour)
	for _, x := range []store.Actor{a, keep} {
		mustEnqueue(t, s, x.ID, "m", []byte{1}, 0)
		mustEnqueue(t, s, x.ID, "n", []byte{2}, 0)
		mustCommit(t, s, store.Write{ActorID: x.ID, Generation: x.Generation,
			SchedulePuts:  []store.Schedule{{ID: "s1", At: past, Action: "x"}, {ID: "s2", At: usec(time.Hour), Action: "y"}},
			WorkflowSteps: []store.WorkflowStep{{Workflow: "wf", Name: "a", Seq: 1, Status: store.StepRunning}}})
		if err := s.Deactivate(ctx, x.ID, x.Generation); err != nil {
			t.Fatal(err)
		}
	}
	if due := dueActors(t, s); !slices.Contains(due, a.ID) {
		t.Fatal("actor with a due schedule and messages is not due before destroy")
	}
	if _, err := s.DestroyActor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if ms := mustListQueue(t, s, a.ID, 0, nil, 0); len(ms) != 0 {
		t.Fatalf("destroyed actor's queue: %v", seqs(ms))
	}
	if ms := mustListQueue(t, s, a.ID, 0, []string{"m"}, 0); len(ms) != 0 {
		t.Fatalf("destroyed actor's queue (by name): %v", seqs(ms))
	}
	if n := mustQueueLen(t, s, a.ID); n != 0 {
		t.Fatalf("destroyed actor's QueueLen = %d", n)
	}
	if scs := mustSchedules(t, s, a.ID); len(scs) != 0 {
		t.Fatalf("destroyed actor's schedules: %v", scheduleIDs(scs, past))
	}
	if next := mustNextDue(t, s, a.ID); !next.IsZero() {
		t.Fatalf("destroyed actor's NextDue = %v", next)
	}
	if sts := mustSteps(t, s, a.ID, ""); len(sts) != 0 {
		t.Fatalf("destroyed actor's steps: %v", stepNames(sts))
	}
	if due := dueActors(t, s); slices.Contains(due, a.ID) || !slices.Contains(due, keep.ID) {
		t.Fatalf("DueActors after destroy: destroyed one listed %v, other one listed %v",
			slices.Contains(due, a.ID), slices.Contains(due, keep.ID))
	}
	_, err := s.Enqueue(ctx, a.ID, "m", nil, 0)
	wantErr(t, "Enqueue(destroyed)", err, store.ErrDestroyed)
	if n := mustQueueLen(t, s, a.ID); n != 0 {
		t.Fatalf("Enqueue to a destroyed actor left QueueLen %d", n)
	}

	// The other actor kept everything.
	if n := mustQueueLen(t, s, keep.ID); n != 2 || len(mustSchedules(t, s, keep.ID)) != 2 || len(mustSteps(t, s, keep.ID, "wf")) != 1 {
		t.Fatalf("destroying %s touched %s's queue, schedules or steps", a.ID, keep.ID)
	}
	// A new actor with the destroyed one's key starts empty.
	b := mustCreate(t, s, spec(t, ns, "wipe", "k"))
	if n := mustQueueLen(t, s, b.ID); n != 0 || len(mustSchedules(t, s, b.ID)) != 0 || len(mustSteps(t, s, b.ID, "")) != 0 {
		t.Fatalf("re-created actor inherited queue %d, schedules or steps", n)
	}
	if m := mustEnqueue(t, s, b.ID, "m", nil, 0); m.ActorID != b.ID {
		t.Fatalf("Enqueue to re-created actor: %+v", m)
	}
}

// ---- limits ----

func testQueueLimits(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "lim")).ID)
	mib := store.MaxQueueBodySize

	// Enqueue: name and body at the limit pass, one byte more fails.
	mustEnqueue(t, s, a.ID, strings.Repeat("n", store.MaxQueueNameSize), nil, 0)
	mustEnqueue(t, s, a.ID, "big", bytes.Repeat([]byte{0x5a}, mib), 0)
	for what, args := range map[string]struct {
		id, name string
		body     []byte
	}{
		"name too long": {a.ID, strings.Repeat("n", store.MaxQueueNameSize+1), nil},
		"empty name":    {a.ID, "", nil},
		"body too big":  {a.ID, "m", make([]byte, mib+1)},
		"empty actor":   {"", "m", nil},
	} {
		_, err := s.Enqueue(ctx, args.id, args.name, args.body, 0)
		wantErr(t, "Enqueue: "+what, err, store.ErrInvalid)
	}
	ms := mustListQueue(t, s, a.ID, 0, nil, 0)
	if len(ms) != 2 || len(ms[0].Name) != store.MaxQueueNameSize || len(ms[1].Body) != mib {
		t.Fatalf("queue after limit checks: %d messages", len(ms))
	}

	// Writes: the largest accepted values.
	at := usec(time.Hour)
	okSched := store.Schedule{ID: strings.Repeat("i", store.MaxScheduleIDSize), At: at,
		Action: strings.Repeat("a", store.MaxActionNameSize), Args: bytes.Repeat([]byte{1}, store.MaxScheduleArgsSize)}
	okStep := store.WorkflowStep{Workflow: strings.Repeat("w", store.MaxWorkflowIDSize), Name: strings.Repeat("s", store.MaxStepNameSize),
		Seq: math.MaxInt64, Status: store.StepFailed, Result: bytes.Repeat([]byte{2}, store.MaxStepResultSize),
		Error: strings.Repeat("e", store.MaxStepErrorSize), Attempts: math.MaxInt32, StartedAt: store.MinTime, FinishedAt: store.MaxTime}
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, SchedulePuts: []store.Schedule{okSched},
		WorkflowSteps: []store.WorkflowStep{okStep}, QueueAcks: []uint64{math.MaxInt64}})
	scs := mustSchedules(t, s, a.ID)
	if len(scs) != 1 || scs[0].ID != okSched.ID || scs[0].Action != okSched.Action || !bytes.Equal(scs[0].Args, okSched.Args) {
		t.Fatalf("schedule at the limits did not round-trip (%d schedules)", len(scs))
	}
	okStep.ActorID = a.ID
	sameSteps(t, "step at the limits", []store.WorkflowStep{okStep}, mustSteps(t, s, a.ID, okStep.Workflow))

	// Writes: one byte (or value) past each limit is ErrInvalid, and the
	// write applies nothing.
	sched := func(f func(*store.Schedule)) []store.Schedule {
		sc := store.Schedule{ID: "s", At: at, Action: "a"}
		f(&sc)
		return []store.Schedule{sc}
	}
	step := func(f func(*store.WorkflowStep)) []store.WorkflowStep {
		st := store.WorkflowStep{Workflow: "wf", Name: "n", Seq: 1, Status: store.StepRunning}
		f(&st)
		return []store.WorkflowStep{st}
	}
	bad := map[string]store.Write{
		"schedule id too long":   {SchedulePuts: sched(func(sc *store.Schedule) { sc.ID = strings.Repeat("i", store.MaxScheduleIDSize+1) })},
		"empty schedule id":      {SchedulePuts: sched(func(sc *store.Schedule) { sc.ID = "" })},
		"action too long":        {SchedulePuts: sched(func(sc *store.Schedule) { sc.Action = strings.Repeat("a", store.MaxActionNameSize+1) })},
		"empty action":           {SchedulePuts: sched(func(sc *store.Schedule) { sc.Action = "" })},
		"args too big":           {SchedulePuts: sched(func(sc *store.Schedule) { sc.Args = make([]byte, store.MaxScheduleArgsSize+1) })},
		"zero schedule time":     {SchedulePuts: sched(func(sc *store.Schedule) { sc.At = time.Time{} })},
		"schedule after MaxTime": {SchedulePuts: sched(func(sc *store.Schedule) { sc.At = store.MaxTime.Add(time.Second) })},
		"schedule of another":    {SchedulePuts: sched(func(sc *store.Schedule) { sc.ActorID = "someone-else" })},
		"delete id too long":     {ScheduleDeletes: []string{strings.Repeat("i", store.MaxScheduleIDSize+1)}},
		"workflow id too long":   {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Workflow = strings.Repeat("w", store.MaxWorkflowIDSize+1) })},
		"empty workflow id":      {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Workflow = "" })},
		"step name too long":     {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Name = strings.Repeat("s", store.MaxStepNameSize+1) })},
		"empty step name":        {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Name = "" })},
		"result too big":         {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Result = make([]byte, store.MaxStepResultSize+1) })},
		"error too long":         {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Error = strings.Repeat("e", store.MaxStepErrorSize+1) })},
		"unknown status":         {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Status = "pending" })},
		"negative attempts":      {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Attempts = -1 })},
		"seq out of range":       {WorkflowSteps: step(func(st *store.WorkflowStep) { st.Seq = math.MaxInt64 + 1 })},
		"start before MinTime":   {WorkflowSteps: step(func(st *store.WorkflowStep) { st.StartedAt = store.MinTime.Add(-time.Second) })},
		"step of another":        {WorkflowSteps: step(func(st *store.WorkflowStep) { st.ActorID = "someone-else" })},
		"delete run too long":    {WorkflowDeletes: []string{strings.Repeat("w", store.MaxWorkflowIDSize+1)}},
		"empty delete run":       {WorkflowDeletes: []string{""}},
		"empty step prefix":      {StepPrefixDeletes: []store.StepPrefix{{Workflow: "wf", Prefix: ""}}},
		"step prefix too long":   {StepPrefixDeletes: []store.StepPrefix{{Workflow: "wf", Prefix: strings.Repeat("s", store.MaxStepNameSize+1)}}},
		"step prefix of no run":  {StepPrefixDeletes: []store.StepPrefix{{Workflow: "", Prefix: "p"}}},
		"ack out of range":       {QueueAcks: []uint64{math.MaxInt64 + 1}},
	}
	for what, w := range bad {
		w.ActorID, w.Generation, w.State = a.ID, a.Generation, []byte("bad")
		w.QueueAcks = append(w.QueueAcks, ms[0].Seq)
		w.ScheduleDeletes = append(w.ScheduleDeletes, okSched.ID)
		w.WorkflowDeletes = append(w.WorkflowDeletes, okStep.Workflow)
		wantErr(t, "write with "+what, commitOne(t, s, w), store.ErrInvalid)
	}
	if st, _ := s.LoadState(ctx, a.ID, a.Generation); st != nil {
		t.Fatalf("an invalid write applied its state %q", st)
	}
	if n := mustQueueLen(t, s, a.ID); n != 2 || len(mustSchedules(t, s, a.ID)) != 1 || len(mustSteps(t, s, a.ID, "")) != 1 {
		t.Fatal("an invalid write applied its acks or deletes")
	}
}
