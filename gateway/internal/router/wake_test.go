package router

import (
	"context"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

// sleptOnR1 creates a1, serves its first call on r1 and puts it to sleep
// there as its runner would (no runner, same generation).
func sleptOnR1(t *testing.T, f *fixture, rt *Router) store.Actor {
	t.Helper()
	a := createA1(t, rt)
	if who, err := call(t, rt, a.ID); err != nil || who != "r1" {
		t.Fatalf("first call: %q, %v", who, err)
	}
	if err := f.st.Deactivate(context.Background(), a.ID, a.Generation); err != nil {
		t.Fatal(err)
	}
	return a
}

// An actor that slept on its runner is woken from the runner's stale
// refusal alone: the router asks a runner to place it on itself with a
// compare-and-set on the generation it remembered, without reading or
// writing its row; the new placement is remembered.
func TestWakeFromStaleRefusalPlacesWithoutRead(t *testing.T) {
	f := newFixture(t, "r1")
	rt := f.router()
	ctx := context.Background()
	a := sleptOnR1(t, f, rt)
	before, placesBefore := f.st.gets.Load(), f.st.places.Load()
	if who, err := call(t, rt, a.ID); err != nil || who != "r1" {
		t.Fatalf("wake: %q, %v", who, err)
	}
	if n := f.st.gets.Load() - before; n != 0 {
		t.Fatalf("router read the actor row %d times on wake; want 0", n)
	}
	if n := f.st.places.Load() - placesBefore; n != 0 {
		t.Fatalf("router placed the actor %d times on wake; want 0 (the runner places itself)", n)
	}
	cur, err := f.st.GetActor(ctx, a.ID)
	if err != nil || cur.RunnerID != "r1" || cur.Generation != a.Generation+1 {
		t.Fatalf("row after wake: %+v, %v; want r1 at generation %d", cur, err, a.Generation+1)
	}
	if p, ok := rt.placements.get(a.ID); !ok || p != (placement{runner: "r1", gen: a.Generation + 1}) {
		t.Fatalf("remembered placement %+v %v", p, ok)
	}
}

// A stale refusal that does not mean a sleep (another gateway moved the
// actor on) leaves the row alone: the compare-and-set fails and the router
// follows the row as before.
func TestWakeHintAfterMoveDoesNotPlaceAgain(t *testing.T) {
	f := newFixture(t, "r1", "r2")
	rt := f.router()
	ctx := context.Background()
	a := createA1(t, rt)
	if _, err := call(t, rt, a.ID); err != nil {
		t.Fatal(err)
	}
	other := map[string]string{"r1": "r2", "r2": "r1"}[a.RunnerID]
	if _, err := f.st.Place(ctx, a.ID, other, a.Generation); err != nil {
		t.Fatal(err)
	}
	if who, err := call(t, rt, a.ID); err != nil || who != other {
		t.Fatalf("call after the move: %q, %v; want %s", who, err, other)
	}
	cur, err := f.st.GetActor(ctx, a.ID)
	if err != nil || cur.RunnerID != other || cur.Generation != a.Generation+1 {
		t.Fatalf("row: %+v, %v; want %s at generation %d (not placed again)", cur, err, other, a.Generation+1)
	}
}

// A runner's notice that the actor slept there (Ended) turns the
// remembered placement into a wake hint: the next request wakes it
// without first trying that runner and being refused as stale, and the
// router neither reads nor writes the row.
func TestEndedNoticeWakesWithoutTryingTheOldRunner(t *testing.T) {
	f := newFixture(t, "r1")
	rt := f.router()
	a := sleptOnR1(t, f, rt)
	rt.Ended("r1", a.ID, a.Generation, false)
	if p, ok := rt.placements.get(a.ID); !ok || p != (placement{runner: "r1", gen: a.Generation, ended: true}) {
		t.Fatalf("placement after the notice: %+v %v", p, ok)
	}
	attempts, gets, places := f.runners["r1"].attempts.Load(), f.st.gets.Load(), f.st.places.Load()
	if who, err := call(t, rt, a.ID); err != nil || who != "r1" {
		t.Fatalf("wake: %q, %v", who, err)
	}
	if n := f.runners["r1"].attempts.Load() - attempts; n != 1 {
		t.Fatalf("the runner got %d requests for the wake; want 1 (no stale attempt first)", n)
	}
	if n := f.st.gets.Load() - gets; n != 0 {
		t.Fatalf("router read the actor row %d times on wake; want 0", n)
	}
	if n := f.st.places.Load() - places; n != 0 {
		t.Fatalf("router placed the actor %d times on wake; want 0", n)
	}
	if p, ok := rt.placements.get(a.ID); !ok || p != (placement{runner: "r1", gen: a.Generation + 1}) {
		t.Fatalf("remembered placement %+v %v", p, ok)
	}
}

// A notice about another placement than the remembered one changes
// nothing; a destroyed actor's notice drops the entry.
func TestEndedNoticeMatchesThePlacement(t *testing.T) {
	f := newFixture(t, "r1", "r2")
	rt := f.router()
	want := placement{runner: "r1", gen: 5}
	rt.placements.put("a1", want)
	rt.Ended("r1", "a1", 4, false) // an older generation
	rt.Ended("r2", "a1", 5, false) // another runner
	if p, ok := rt.placements.get("a1"); !ok || p != want {
		t.Fatalf("entry after unrelated notices: %+v %v; want %+v", p, ok, want)
	}
	rt.Ended("r1", "a1", 5, true)
	if p, ok := rt.placements.get("a1"); ok {
		t.Fatalf("entry after the destroyed notice: %+v; want none", p)
	}
}
