package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

var activationTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"LoadActivation", testLoadActivation},
	{"LoadActivationMatchesReads", testLoadActivationMatchesReads},
	{"PlaceActivation", testPlaceActivation},
	{"CreatePlaced", testCreatePlaced},
	{"GetOrCreatePlacedConcurrent", testGetOrCreatePlacedConcurrent},
}

// testLoadActivation: store.LoadActivation (one round trip where the store
// implements ActivationLoader) returns what GetActor, ListQueue,
// ListSchedules and LoadState return separately.
func testLoadActivation(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.LoadActivation(ctx, newID(t), 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("LoadActivation(unknown) = %v, want ErrNotFound", err)
	}

	// A brand-new actor: row only.
	fresh := mustCreate(t, s, spec(t, newNS(), "act", "k"))
	got, err := s.LoadActivation(ctx, fresh.ID, 10)
	if err != nil {
		t.Fatalf("LoadActivation(new): %v", err)
	}
	sameActor(t, "new actor row", fresh, got.Actor)
	if got.Queue != nil || got.Schedules != nil || got.State != nil {
		t.Fatalf("new actor: queue %v, schedules %v, state %x; want none", got.Queue, got.Schedules, got.State)
	}

	// An actor with state, three queued messages and two schedules.
	state := []byte{0xa1, 0x61, 0x6e, 0x05}
	a, at := busyActor(t, s, state)
	want := mustGet(t, s, a.ID)
	got, err = s.LoadActivation(ctx, a.ID, 2)
	if err != nil {
		t.Fatalf("LoadActivation: %v", err)
	}
	sameActor(t, "row", want, got.Actor)
	sameBusyActivation(t, s, got, state, at)
	// The queue read follows acknowledgements.
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, QueueAcks: []uint64{got.Queue[0].Seq}})
	got, err = s.LoadActivation(ctx, a.ID, 10)
	if err != nil {
		t.Fatalf("LoadActivation after ack: %v", err)
	}
	sameMessages(t, "queue after ack", mustListQueue(t, s, a.ID, 0, nil, 10), got.Queue)
	if len(got.Queue) != 2 {
		t.Fatalf("queue after ack: %d messages, want 2", len(got.Queue))
	}

	// Destroyed: the row, nothing else, no error.
	if _, err := s.DestroyActor(ctx, a.ID); err != nil {
		t.Fatalf("DestroyActor: %v", err)
	}
	got, err = s.LoadActivation(ctx, a.ID, 10)
	if err != nil {
		t.Fatalf("LoadActivation(destroyed): %v", err)
	}
	if !got.Actor.Destroyed() || got.Queue != nil || got.Schedules != nil || got.State != nil {
		t.Fatalf("destroyed actor: %+v", got)
	}
}

// testCreatePlaced: ActorSpec.RunnerID creates the actor placed, as a
// Place(id, runner, 0) in the same transaction would; an existing actor
// returned by GetOrCreateActor is left alone.
func testCreatePlaced(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool := newNS()
	r1 := newRunner(t, s, pool, "r1", 1)
	r2 := newRunner(t, s, pool, "r2", 1)
	ns := newNS()

	sp := spec(t, ns, "counter", "placed")
	sp.RunnerID = r1.ID
	a, created, err := s.GetOrCreateActor(ctx, sp)
	if err != nil || !created {
		t.Fatalf("GetOrCreateActor placed: created=%v err=%v", created, err)
	}
	if a.Generation != 1 || a.RunnerID != r1.ID || !recent(a.StartedAt) || !a.SleepAt.IsZero() || a.Initialized {
		t.Fatalf("created placed: gen %d runner %q started %v sleep %v initialized %v; want 1, %s, now, zero, false",
			a.Generation, a.RunnerID, a.StartedAt, a.SleepAt, a.Initialized, r1.ID)
	}
	sameActor(t, "stored row", a, mustGet(t, s, a.ID))
	if got := onRunner(t, s, r1.ID); len(got) != 1 || got[0] != a.ID {
		t.Fatalf("ActorsOnRunner(r1) = %v, want [%s]", got, a.ID)
	}
	if n := mustGetRunner(t, s, r1.ID).Actors; n != 1 {
		t.Fatalf("r1 actor count = %d, want 1", n)
	}
	// The generation fences as after a Place: 1 is current, 0 is not.
	wantErr(t, "Place with expectGen 0", func() error { _, err := s.Place(ctx, a.ID, r2.ID, 0); return err }(), store.ErrFenced)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: 1, State: []byte{0xa0}, Initialized: true})

	// Existing: returned unchanged, placement included.
	sp2 := spec(t, ns, "counter", "placed")
	sp2.RunnerID = r2.ID
	b, created, err := s.GetOrCreateActor(ctx, sp2)
	if err != nil || created {
		t.Fatalf("GetOrCreateActor existing: created=%v err=%v", created, err)
	}
	if b.ID != a.ID || b.RunnerID != r1.ID || b.Generation != 1 || !b.Initialized {
		t.Fatalf("existing actor changed: %+v", b)
	}
	b = mustPlace(t, s, a.ID, r2.ID, 1)
	if b.Generation != 2 || b.RunnerID != r2.ID {
		t.Fatalf("Place after placed creation: gen %d runner %q", b.Generation, b.RunnerID)
	}

	// CreateActor takes RunnerID too; without it an actor is born asleep.
	sp3 := spec(t, ns, "counter", "created")
	sp3.RunnerID = r2.ID
	c, err := s.CreateActor(ctx, sp3)
	if err != nil || c.Generation != 1 || c.RunnerID != r2.ID {
		t.Fatalf("CreateActor placed: %+v, %v", c, err)
	}
	d := mustCreate(t, s, spec(t, ns, "counter", "plain"))
	if d.Generation != 0 || d.RunnerID != "" || !d.StartedAt.IsZero() {
		t.Fatalf("CreateActor unplaced: %+v", d)
	}
	// Destroy clears the placement of a placed-at-birth actor as of any other.
	if _, err := s.DestroyActor(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if got := onRunner(t, s, r2.ID); len(got) != 1 || got[0] != a.ID {
		t.Fatalf("ActorsOnRunner(r2) after destroy = %v, want [%s]", got, a.ID)
	}
}

// testGetOrCreatePlacedConcurrent: of many callers creating one key, each
// with a runner of its own, exactly one creates; every caller gets the
// winner's row with the winner's placement.
func testGetOrCreatePlacedConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool, ns := newNS(), newNS()
	const n = 16
	runners := make([]store.Runner, n)
	for i := range runners {
		runners[i] = newRunner(t, s, pool, fmt.Sprint("r", i), 1)
	}
	type res struct {
		a       store.Actor
		created bool
		err     error
	}
	out := make([]res, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sp := spec(t, ns, "counter", "stampede")
			sp.RunnerID = runners[i].ID
			out[i].a, out[i].created, out[i].err = s.GetOrCreateActor(ctx, sp)
		}()
	}
	wg.Wait()
	winners := 0
	for i, r := range out {
		if r.err != nil {
			t.Fatalf("caller %d: %v", i, r.err)
		}
		if r.created {
			winners++
		}
		if r.a.ID != out[0].a.ID || r.a.RunnerID != out[0].a.RunnerID || r.a.Generation != 1 {
			t.Fatalf("caller %d got %s on %q gen %d; caller 0 got %s on %q", i, r.a.ID, r.a.RunnerID, r.a.Generation, out[0].a.ID, out[0].a.RunnerID)
		}
	}
	if winners != 1 {
		t.Fatalf("%d callers created the actor, want 1", winners)
	}
}

// busyActor makes an awake actor with state, three queued messages (q1,
// q2, q3) and two schedules (s1 at the returned time, s2 a minute later),
// as the activation tests read them back.
func busyActor(t *testing.T, s store.Store, state []byte) (store.Actor, time.Time) {
	t.Helper()
	a := mustActivate(t, s, mustCreate(t, s, spec(t, newNS(), "act", "k")).ID)
	at := usec(time.Hour)
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: state, Initialized: true,
		SchedulePuts: []store.Schedule{
			{ID: "s2", At: at.Add(time.Minute), Action: "b", Args: []byte{0x80}},
			{ID: "s1", At: at, Action: "a", Args: []byte{0x80}},
		}})
	for _, n := range []string{"q1", "q2", "q3"} {
		mustEnqueue(t, s, a.ID, n, []byte{0x01}, 0)
	}
	return a, at
}

// sameBusyActivation checks an activation of a busyActor read with a queue
// page of 2: its state, the first queue page and both schedules by time.
func sameBusyActivation(t *testing.T, s store.Store, got store.Activation, state []byte, at time.Time) {
	t.Helper()
	if !bytes.Equal(got.State, state) {
		t.Fatalf("state = %x, want %x", got.State, state)
	}
	sameMessages(t, "first queue page", mustListQueue(t, s, got.Actor.ID, 0, nil, 2), got.Queue)
	if len(got.Schedules) != 2 || got.Schedules[0].ID != "s1" || got.Schedules[1].ID != "s2" ||
		!got.Schedules[0].At.Equal(at) || got.Schedules[1].Action != "b" {
		t.Fatalf("schedules = %+v, want s1, s2 by time", got.Schedules)
	}
}
