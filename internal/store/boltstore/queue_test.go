package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rivetkube/rivetkube/internal/store"
)

// checkIndexes verifies the secondary structures of schema 3 against the
// data they index: idx_due has exactly one entry per schedule, the queues
// bucket holds a nested bucket exactly for the actors whose counter says
// they have messages, and each counter matches its bucket.
func checkIndexes(t *testing.T, s *Store) {
	t.Helper()
	err := s.boltDB().View(func(tx *bolt.Tx) error {
		want := map[string]bool{}
		err := tx.Bucket(bucketSchedules).ForEach(func(actor, _ []byte) error {
			return tx.Bucket(bucketSchedules).Bucket(actor).ForEach(func(id, v []byte) error {
				sc, err := unmarshalSchedule(string(actor), id, v)
				want[string(dueKey(sc.At.UnixNano(), sc.ActorID, sc.ID))] = true
				return err
			})
		})
		if err != nil {
			return err
		}
		n := 0
		err = tx.Bucket(bucketDueIdx).ForEach(func(k, _ []byte) error {
			n++
			if !want[string(k)] {
				return fmt.Errorf("idx_due entry %x has no schedule", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(want) {
			return fmt.Errorf("idx_due has %d entries for %d schedules", n, len(want))
		}
		err = tx.Bucket(bucketQueueSeq).ForEach(func(actor, _ []byte) error {
			c, err := getCounter(boltTx{tx}, string(actor))
			if err != nil {
				return err
			}
			b := tx.Bucket(bucketQueues).Bucket(actor)
			switch {
			case c.count == 0 && b != nil:
				return fmt.Errorf("actor %s: empty queue keeps its bucket", actor)
			case c.count > 0 && (b == nil || b.Stats().KeyN != int(c.count)):
				return fmt.Errorf("actor %s: counter says %d messages, bucket disagrees", actor, c.count)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketQueues).ForEach(func(actor, _ []byte) error {
			if c, _ := getCounter(boltTx{tx}, string(actor)); c.count == 0 {
				return fmt.Errorf("actor %s: queue bucket without counted messages", actor)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueueIndexesConsistent runs puts, moves, deletes, acks and destroys
// and checks idx_due and the queue counters after each step.
func TestQueueIndexesConsistent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	var as []store.Actor
	for i := range 3 {
		id := fmt.Sprintf("a%d", i)
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Activate(ctx, id, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, a)
	}
	commit := func(w store.Write) {
		t.Helper()
		errs, err := s.Commit(ctx, []store.Write{w})
		if err != nil || errs[0] != nil {
			t.Fatalf("Commit: %v %v", err, errs)
		}
		checkIndexes(t, s)
	}
	base := time.Now().Add(time.Hour)
	for i, a := range as {
		commit(store.Write{ActorID: a.ID, Generation: a.Generation, SchedulePuts: []store.Schedule{
			{ID: "x", At: base.Add(time.Duration(i) * time.Minute), Action: "f"},
			{ID: "y", At: base, Action: "f"},
		}})
		for range 3 {
			if _, err := s.Enqueue(ctx, a.ID, "m", nil, 0); err != nil {
				t.Fatal(err)
			}
		}
		checkIndexes(t, s)
	}
	a := as[0]
	commit(store.Write{ActorID: a.ID, Generation: a.Generation, SchedulePuts: []store.Schedule{{ID: "x", At: base.Add(-2 * time.Hour), Action: "g"}}})
	commit(store.Write{ActorID: a.ID, Generation: a.Generation, ScheduleDeletes: []string{"y", "y", "nope"},
		SchedulePuts: []store.Schedule{{ID: "y", At: base, Action: "h"}, {ID: "y", At: base.Add(time.Second), Action: "i"}}})
	commit(store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{1, 2}})
	commit(store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{3, 3, 4}})
	if _, err := s.DestroyActor(ctx, as[1].ID); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, s)
	if due, err := s.DueActors(ctx, 0); err != nil || !slices.Equal(due, []string{"a0"}) {
		t.Fatalf("DueActors = %v, %v; want [a0]", due, err)
	}
}

// TestDueClock drives DueActors with an injected clock: a schedule is due
// exactly at its time, and actors are ordered by due time then ID.
func TestDueClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s.now = clk.now
	at := clk.now().Add(time.Minute)
	for _, id := range []string{"b", "a", "q"} {
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"b", "a"} {
		a, err := s.Activate(ctx, id, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		errs, err := s.Commit(ctx, []store.Write{{ActorID: id, Generation: a.Generation,
			SchedulePuts: []store.Schedule{{ID: "s", At: at, Action: "f"}}}})
		if err != nil || errs[0] != nil {
			t.Fatalf("Commit: %v %v", err, errs)
		}
	}
	due := func() []string {
		t.Helper()
		ids, err := s.DueActors(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := due(); len(got) != 0 {
		t.Fatalf("DueActors a minute early = %v", got)
	}
	clk.advance(30 * time.Second)
	if _, err := s.Enqueue(ctx, "q", "m", nil, 0); err != nil { // due at now
		t.Fatal(err)
	}
	if got := due(); !slices.Equal(got, []string{"q"}) {
		t.Fatalf("DueActors with a message = %v, want [q]", got)
	}
	clk.advance(30*time.Second - time.Nanosecond)
	if got := due(); !slices.Equal(got, []string{"q"}) {
		t.Fatalf("DueActors 1ns before the schedules = %v, want [q]", got)
	}
	clk.advance(time.Nanosecond)
	if got := due(); !slices.Equal(got, []string{"q", "a", "b"}) {
		t.Fatalf("DueActors at the schedules' time = %v, want [q a b]", got)
	}
	if got, err := s.DueActors(ctx, 2); err != nil || !slices.Equal(got, []string{"q", "a"}) {
		t.Fatalf("DueActors(2) = %v, %v; want [q a]", got, err)
	}
	if m, err := s.ListQueue(ctx, "q", 0, nil, 0); err != nil || len(m) != 1 || !m[0].EnqueuedAt.Equal(at.Add(-30*time.Second)) {
		t.Fatalf("message stamped %+v (%v), want the store's clock", m, err)
	}
}

// TestQueueReopen checks that messages, the queue counter, schedules and
// workflow steps survive closing the file, and that seqs are not reused
// after a reopen.
func TestQueueReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateActor(ctx, store.ActorSpec{ID: "a", Namespace: "ns", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.Activate(ctx, "a", "r", 0)
	if err != nil {
		t.Fatal(err)
	}
	var last store.QueueMessage
	for i := range 3 {
		if last, err = s.Enqueue(ctx, "a", "m", []byte{byte(i)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Unix(2_000_000_000, 5000)
	errs, err := s.Commit(ctx, []store.Write{{ActorID: "a", Generation: a.Generation, QueueAcks: []uint64{1, 2, 3},
		SchedulePuts:  []store.Schedule{{ID: "s", At: at, Action: "f", Args: []byte{0x80}}},
		WorkflowSteps: []store.WorkflowStep{{Workflow: "w", Name: "n", Seq: 7, Status: store.StepCompleted, Result: []byte{1}, FinishedAt: at}}}})
	if err != nil || errs[0] != nil {
		t.Fatalf("Commit: %v %v", err, errs)
	}
	if _, err := s.Enqueue(ctx, "a", "kept", []byte("body"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, err := s.ListQueue(ctx, "a", 0, nil, 0)
	if err != nil || len(ms) != 1 || ms[0].Seq != last.Seq+1 || ms[0].Name != "kept" || !bytes.Equal(ms[0].Body, []byte("body")) {
		t.Fatalf("queue after reopen: %+v, %v", ms, err)
	}
	if m, err := s.Enqueue(ctx, "a", "m", nil, 0); err != nil || m.Seq != last.Seq+2 {
		t.Fatalf("Enqueue after reopen: seq %d (%v), want %d", m.Seq, err, last.Seq+2)
	}
	if next, err := s.NextDue(ctx, "a"); err != nil || !next.Equal(at) {
		t.Fatalf("NextDue after reopen = %v (%v), want %v", next, err, at)
	}
	if sts, err := s.ListWorkflowSteps(ctx, "a", "w"); err != nil || len(sts) != 1 || sts[0].Seq != 7 || !sts[0].FinishedAt.Equal(at) {
		t.Fatalf("steps after reopen: %+v, %v", sts, err)
	}
	checkIndexes(t, s)
}

// TestUpgradeSchema2 turns a file back into the version 2 layout (no queue
// buckets) and checks that Open adds them and the queue methods work.
func TestUpgradeSchema2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateActor(ctx, store.ActorSpec{ID: "a", Namespace: "ns", Name: "n"}); err != nil {
		t.Fatal(err)
	}
	err = s.boltDB().Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketQueues, bucketQueueSeq, bucketSchedules, bucketDueIdx, bucketWorkflows} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaSchemaKey, []byte{2})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatalf("open a schema 2 file: %v", err)
	}
	defer s.Close()
	if m, err := s.Enqueue(ctx, "a", "m", nil, 0); err != nil || m.Seq != 1 {
		t.Fatalf("Enqueue after upgrade: %+v, %v", m, err)
	}
	if due, err := s.DueActors(ctx, 0); err != nil || !slices.Equal(due, []string{"a"}) {
		t.Fatalf("DueActors after upgrade: %v, %v", due, err)
	}
	var v []byte
	_ = s.boltDB().View(func(tx *bolt.Tx) error { v = slices.Clone(tx.Bucket(bucketMeta).Get(metaSchemaKey)); return nil })
	if !slices.Equal(v, []byte{schemaVersion}) {
		t.Fatalf("schema version after upgrade = %v, want %d", v, schemaVersion)
	}
}
