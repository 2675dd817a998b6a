package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

// TestQueueIndexes fills the tables of migration 0003 a little (most
// actors asleep, most schedules in the future) and checks that the read
// queries of queues, schedules and workflow steps use their indexes, so
// DueActors in particular never walks every actor or every schedule.
func TestQueueIndexes(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	const actors = 300
	for i := range actors {
		id := fmt.Sprintf("qi-%03d", i)
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Activate(ctx, id, "r1", 0)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(time.Duration(24+i) * time.Hour)
		if i%50 == 0 {
			at = time.Now().Add(-time.Hour)
		}
		w := store.Write{ActorID: id, Generation: a.Generation,
			SchedulePuts:  []store.Schedule{{ID: "s1", At: at, Action: "x"}, {ID: "s2", At: at.Add(time.Hour), Action: "x"}},
			WorkflowSteps: []store.WorkflowStep{{Workflow: "wf", Name: "a", Seq: 1, Status: store.StepRunning}, {Workflow: "wf2", Name: "a", Seq: 1, Status: store.StepRunning}}}
		if errs, err := s.Commit(ctx, []store.Write{w}); err != nil || errs[0] != nil {
			t.Fatalf("Commit: %v %v", err, errs)
		}
		for j := range 3 {
			if _, err := s.Enqueue(ctx, id, fmt.Sprintf("m%d", j), nil, 0); err != nil {
				t.Fatal(err)
			}
		}
		if i%3 != 0 { // two in three actors asleep, all with messages
			if err := s.Deactivate(ctx, id, a.Generation); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.Pool().Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}

	plan := explain(t, s, dueActorsSQL, 100)
	for _, idx := range []string{"actor_schedules_due", "actors_queue_wake", "actor_queue_pkey"} {
		if !strings.Contains(plan, idx) {
			t.Fatalf("DueActors does not use %s:\n%s", idx, plan)
		}
	}
	if strings.Contains(plan, "actor_schedules_pkey") || strings.Contains(plan, "Seq Scan") {
		t.Fatalf("DueActors scans more than the due schedules:\n%s", plan)
	}
	for name, q := range map[string]struct {
		sql  string
		args []any
		idx  string
	}{
		"ListQueue":          {listQueueSQL, []any{"qi-001", 0, 10}, "actor_queue_"},
		"ListQueue(names)":   {listQueueNamesSQL, []any{"qi-001", 0, 10, []string{"m1"}}, "actor_queue_"},
		"ListSchedules":      {listSchedulesSQL, []any{"qi-001"}, "actor_schedules_pkey"},
		"ListWorkflowSteps":  {listRunStepsSQL, []any{"qi-001", "wf"}, "workflow_steps"},
		"ListWorkflowSteps*": {listAllStepsSQL, []any{"qi-001"}, "workflow_steps"},
	} {
		plan := explain(t, s, q.sql, q.args...)
		if !strings.Contains(plan, q.idx) || strings.Contains(plan, "Seq Scan") {
			t.Fatalf("%s does not use %s:\n%s", name, q.idx, plan)
		}
	}

	// Sanity: the indexed query answers what the contract says: the six
	// actors with past schedules (earliest first, all due an hour ago, so
	// by ID) come before the sleeping actors with messages.
	due, err := s.DueActors(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != actors*2/3+2 { // 200 asleep + qi-000 and qi-150 (awake, due)
		t.Fatalf("DueActors returned %d actors: %v", len(due), due[:min(len(due), 10)])
	}
	want := []string{"qi-000", "qi-050", "qi-100", "qi-150", "qi-200", "qi-250"}
	if got := due[:6]; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("DueActors starts %v, want %v", got, want)
	}
}
