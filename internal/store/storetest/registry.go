package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// registryTests are the subtests of the distributed-engine part of the
// contract: runner registry, Place, ActorsOnRunner, pool configs, leases.
var registryTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"RunnerRegistry", testRunnerRegistry},
	{"RunnerUpsertRefresh", testRunnerUpsertRefresh},
	{"RunnerHeartbeat", testRunnerHeartbeat},
	{"RemoveRunnerClearsPlacement", testRemoveRunnerClearsPlacement},
	{"Place", testPlace},
	{"PlaceConcurrent", testPlaceConcurrent},
	{"ActorsOnRunner", testActorsOnRunner},
	{"PoolConfig", testPoolConfig},
	{"PoolActivity", testPoolActivity},
	{"Lease", testLease},
	{"LeaseConcurrent", testLeaseConcurrent},
}

// newRunner registers a runner of pool whose ID starts with pool.
func newRunner(t *testing.T, s store.Store, pool, name string, version uint64) store.Runner {
	t.Helper()
	r := store.Runner{ID: pool + "-" + name, Pool: pool, Version: version, Address: "127.0.0.1:" + fmt.Sprint(7000+version),
		Names: []string{"counter", "chat room", ""}}
	if err := s.UpsertRunner(context.Background(), r); err != nil {
		t.Fatalf("UpsertRunner(%s): %v", r.ID, err)
	}
	return r
}

func mustGetRunner(t *testing.T, s store.Store, id string) store.Runner {
	t.Helper()
	r, err := s.GetRunner(context.Background(), id)
	if err != nil {
		t.Fatalf("GetRunner(%s): %v", id, err)
	}
	return r
}

func mustPlace(t *testing.T, s store.Store, id, runnerID string, expectGen uint64) store.Actor {
	t.Helper()
	a, err := s.Place(context.Background(), id, runnerID, expectGen)
	if err != nil {
		t.Fatalf("Place(%s on %s, expect %d): %v", id, runnerID, expectGen, err)
	}
	return a
}

func runnerIDs(rs []store.Runner) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// onRunner returns the IDs ActorsOnRunner reports for runnerID.
func onRunner(t *testing.T, s store.Store, runnerID string) []string {
	t.Helper()
	as, err := s.ActorsOnRunner(context.Background(), runnerID, 0)
	if err != nil {
		t.Fatalf("ActorsOnRunner(%s): %v", runnerID, err)
	}
	for _, a := range as {
		if a.RunnerID != runnerID {
			t.Fatalf("ActorsOnRunner(%s) returned %s placed on %q", runnerID, a.ID, a.RunnerID)
		}
	}
	return ids(as)
}

// counts returns the Actors count ListRunners reports for each runner of
// pool, after checking that ListRunnerRows lists the same runners in the
// same order without counts.
func counts(t *testing.T, s store.Store, pool string) map[string]int {
	t.Helper()
	rs, err := s.ListRunners(context.Background(), pool)
	if err != nil {
		t.Fatalf("ListRunners(%s): %v", pool, err)
	}
	rows, err := s.ListRunnerRows(context.Background(), pool)
	if err != nil {
		t.Fatalf("ListRunnerRows(%s): %v", pool, err)
	}
	if len(rows) != len(rs) {
		t.Fatalf("ListRunnerRows(%s) = %v, ListRunners = %v", pool, runnerIDs(rows), runnerIDs(rs))
	}
	for i, r := range rows {
		if r.ID != rs[i].ID || r.Pool != rs[i].Pool || r.Version != rs[i].Version || r.Actors != 0 {
			t.Fatalf("ListRunnerRows(%s)[%d] = %s (pool %s, version %d, %d actors), ListRunners has %s (pool %s, version %d): want the same runner, 0 actors",
				pool, i, r.ID, r.Pool, r.Version, r.Actors, rs[i].ID, rs[i].Pool, rs[i].Version)
		}
	}
	out := map[string]int{}
	for _, r := range rs {
		out[r.ID] = r.Actors
	}
	return out
}

func wantCounts(t *testing.T, what string, s store.Store, pool string, want map[string]int) {
	t.Helper()
	got := counts(t, s, pool)
	if len(got) != len(want) {
		t.Fatalf("%s: ListRunners(%s) counts %v, want %v", what, pool, got, want)
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("%s: ListRunners(%s) counts %v, want %v", what, pool, got, want)
		}
		if g := mustGetRunner(t, s, id).Actors; g != n {
			t.Fatalf("%s: GetRunner(%s).Actors = %d, want %d", what, id, g, n)
		}
	}
}

func testRunnerRegistry(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool, other := newNS(), newNS()
	// Registered out of order: listing is by ID.
	r3 := newRunner(t, s, pool, "c", 2)
	r1 := newRunner(t, s, pool, "a", 1)
	r2 := newRunner(t, s, pool, "b", 1)
	o1 := newRunner(t, s, other, "a", 7)

	got := mustGetRunner(t, s, r3.ID)
	if got.ID != r3.ID || got.Pool != pool || got.Version != 2 || got.Address != r3.Address ||
		!slices.Equal(got.Names, r3.Names) || got.Draining ||
		!recent(got.StartedAt) || !recent(got.HeartbeatAt) || got.HeartbeatAt.Before(got.StartedAt) ||
		got.SinceHeartbeat < 0 || got.SinceHeartbeat > time.Minute || got.Actors != 0 {
		t.Fatalf("GetRunner after UpsertRunner = %+v", got)
	}

	rs, err := s.ListRunners(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{r1.ID, r2.ID, r3.ID}; !slices.Equal(runnerIDs(rs), want) {
		t.Fatalf("ListRunners(%s) = %v, want %v", pool, runnerIDs(rs), want)
	}
	for _, r := range rs {
		if r.Pool != pool || !recent(r.HeartbeatAt) || r.SinceHeartbeat < 0 || r.SinceHeartbeat > time.Minute {
			t.Fatalf("ListRunners row %+v", r)
		}
	}
	all, err := s.ListRunners(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(runnerIDs(all)) {
		t.Fatalf("ListRunners(\"\") not ordered by ID: %v", runnerIDs(all))
	}
	for _, id := range []string{r1.ID, r2.ID, r3.ID, o1.ID} {
		if !slices.Contains(runnerIDs(all), id) {
			t.Fatalf("ListRunners(\"\") lacks %s", id)
		}
	}
	if rs, err := s.ListRunners(ctx, newNS()); err != nil || len(rs) != 0 {
		t.Fatalf("ListRunners(unknown pool) = %v, %v", rs, err)
	}

	// Actor counts follow placements.
	ns := newNS()
	var placed []store.Actor
	for _, r := range []string{r1.ID, r1.ID, r2.ID} {
		a := mustCreate(t, s, spec(t, ns, "reg", fmt.Sprint(len(placed))))
		placed = append(placed, mustPlace(t, s, a.ID, r, 0))
	}
	wantCounts(t, "after Place", s, pool, map[string]int{r1.ID: 2, r2.ID: 1, r3.ID: 0})
	if err := s.Deactivate(ctx, placed[0].ID, placed[0].Generation); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, "after Deactivate", s, pool, map[string]int{r1.ID: 1, r2.ID: 1, r3.ID: 0})
	wantCounts(t, "other pool", s, other, map[string]int{o1.ID: 0})

	// Draining.
	if err := s.SetRunnerDraining(ctx, r2.ID, true); err != nil {
		t.Fatal(err)
	}
	if !mustGetRunner(t, s, r2.ID).Draining || mustGetRunner(t, s, r1.ID).Draining {
		t.Fatal("SetRunnerDraining(true) did not mark exactly that runner draining")
	}
	if err := s.SetRunnerDraining(ctx, r2.ID, false); err != nil {
		t.Fatal(err)
	}
	if mustGetRunner(t, s, r2.ID).Draining {
		t.Fatal("SetRunnerDraining(false) left the runner draining")
	}
	wantErr(t, "SetRunnerDraining(unknown)", s.SetRunnerDraining(ctx, pool+"-nope", true), store.ErrNotFound)

	// Remove.
	if err := s.RemoveRunner(ctx, r1.ID); err != nil {
		t.Fatalf("RemoveRunner: %v", err)
	}
	_, err = s.GetRunner(ctx, r1.ID)
	wantErr(t, "GetRunner(removed)", err, store.ErrNotFound)
	wantCounts(t, "after RemoveRunner", s, pool, map[string]int{r2.ID: 1, r3.ID: 0})
	if err := s.RemoveRunner(ctx, r1.ID); err != nil {
		t.Fatalf("RemoveRunner(already removed) = %v, want nil", err)
	}
	_, err = s.GetRunner(ctx, pool+"-nope")
	wantErr(t, "GetRunner(unknown)", err, store.ErrNotFound)

	// Invalid rows.
	for _, bad := range []store.Runner{
		{ID: "", Pool: pool, Version: 1},
		{ID: pool + "-x", Pool: "", Version: 1},
		{ID: pool + "-x", Pool: pool, Version: 0},
		{ID: pool + "-x", Pool: pool, Version: math.MaxUint64},
	} {
		wantErr(t, fmt.Sprintf("UpsertRunner(%+v)", bad), s.UpsertRunner(ctx, bad), store.ErrInvalid)
	}
	if _, err := s.GetRunner(ctx, pool+"-x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an invalid UpsertRunner stored a row: %v", err)
	}
}

func testRunnerUpsertRefresh(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool := newNS()
	r := newRunner(t, s, pool, "a", 1)
	before := mustGetRunner(t, s, r.ID)
	time.Sleep(20 * time.Millisecond)

	// A refresh updates the row and the heartbeat but keeps StartedAt.
	r.Version, r.Address, r.Names = 2, "10.0.0.9:1234", []string{"other"}
	if err := s.UpsertRunner(ctx, r); err != nil {
		t.Fatal(err)
	}
	after := mustGetRunner(t, s, r.ID)
	if after.Version != 2 || after.Address != "10.0.0.9:1234" || !slices.Equal(after.Names, []string{"other"}) ||
		!after.StartedAt.Equal(before.StartedAt) ||
		!after.HeartbeatAt.After(before.HeartbeatAt) {
		t.Fatalf("after refresh: %+v (before %+v)", after, before)
	}

	// Draining is sticky across refreshes.
	if err := s.SetRunnerDraining(ctx, r.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertRunner(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !mustGetRunner(t, s, r.ID).Draining {
		t.Fatal("UpsertRunner with Draining false undid SetRunnerDraining(true)")
	}
	// A runner may register draining.
	d := store.Runner{ID: pool + "-d", Pool: pool, Version: 1, Draining: true}
	if err := s.UpsertRunner(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got := mustGetRunner(t, s, d.ID); !got.Draining || got.Names != nil {
		t.Fatalf("UpsertRunner(Draining: true, no Names) stored %+v", got)
	}
	// Names are replaced, not merged: a refresh without names clears them.
	r.Names = nil
	if err := s.UpsertRunner(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := mustGetRunner(t, s, r.ID).Names; got != nil {
		t.Fatalf("Names after a refresh without names = %q, want nil", got)
	}
}

func testRunnerHeartbeat(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool := newNS()
	r := newRunner(t, s, pool, "hb", 1)
	first := mustGetRunner(t, s, r.ID)
	time.Sleep(150 * time.Millisecond)
	second := mustGetRunner(t, s, r.ID)
	if second.SinceHeartbeat <= first.SinceHeartbeat || second.SinceHeartbeat < 100*time.Millisecond {
		t.Fatalf("SinceHeartbeat did not grow with time: %v then %v after 150ms", first.SinceHeartbeat, second.SinceHeartbeat)
	}
	if !second.HeartbeatAt.Equal(first.HeartbeatAt) {
		t.Fatalf("GetRunner moved HeartbeatAt: %v then %v", first.HeartbeatAt, second.HeartbeatAt)
	}
	if rs, err := s.ListRunners(ctx, pool); err != nil || len(rs) != 1 || rs[0].SinceHeartbeat < 100*time.Millisecond {
		t.Fatalf("ListRunners SinceHeartbeat after 150ms: %+v, %v", rs, err)
	}

	if err := s.HeartbeatRunner(ctx, r.ID); err != nil {
		t.Fatalf("HeartbeatRunner: %v", err)
	}
	third := mustGetRunner(t, s, r.ID)
	if !third.HeartbeatAt.After(second.HeartbeatAt) || third.SinceHeartbeat >= second.SinceHeartbeat {
		t.Fatalf("HeartbeatRunner: heartbeat %v → %v, since %v → %v",
			second.HeartbeatAt, third.HeartbeatAt, second.SinceHeartbeat, third.SinceHeartbeat)
	}
	if !third.StartedAt.Equal(first.StartedAt) {
		t.Fatal("HeartbeatRunner changed StartedAt")
	}

	if err := s.RemoveRunner(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "HeartbeatRunner(removed)", s.HeartbeatRunner(ctx, r.ID), store.ErrNotFound)
	if _, err := s.GetRunner(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("HeartbeatRunner after RemoveRunner re-created the runner: %v", err)
	}
	// Registering again works.
	newRunner(t, s, pool, "hb", 1)
	if err := s.HeartbeatRunner(ctx, r.ID); err != nil {
		t.Fatalf("HeartbeatRunner after registering again: %v", err)
	}
}

func testRemoveRunnerClearsPlacement(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool, ns := newNS(), newNS()
	dead := newRunner(t, s, pool, "dead", 1)
	live := newRunner(t, s, pool, "live", 1)
	var onDead []store.Actor
	for i := range 3 {
		a := mustCreate(t, s, spec(t, ns, "rm", fmt.Sprint(i)))
		a = mustPlace(t, s, a.ID, dead.ID, 0)
		a = mustPlace(t, s, a.ID, dead.ID, a.Generation) // generation 2
		onDead = append(onDead, a)
	}
	other := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "rm", "other")).ID, live.ID, 0)

	if err := s.RemoveRunner(ctx, dead.ID); err != nil {
		t.Fatalf("RemoveRunner: %v", err)
	}
	for _, a := range onDead {
		got := mustGet(t, s, a.ID)
		if got.RunnerID != "" || got.Generation != a.Generation || !recent(got.SleepAt) || !got.StartedAt.Equal(a.StartedAt) {
			t.Fatalf("actor of a removed runner: runner %q gen %d (want %d) sleep %v", got.RunnerID, got.Generation, a.Generation, got.SleepAt)
		}
	}
	sameActor(t, "actor of another runner", other, mustGet(t, s, other.ID))
	if got := onRunner(t, s, dead.ID); len(got) != 0 {
		t.Fatalf("ActorsOnRunner(removed runner) = %v", got)
	}
	wantCounts(t, "after RemoveRunner", s, pool, map[string]int{live.ID: 1})

	// The old generation's writes still pass until the next Place fences
	// them.
	a := onDead[0]
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: a.Generation, State: []byte("late")})
	moved := mustPlace(t, s, a.ID, live.ID, a.Generation)
	if moved.Generation != a.Generation+1 {
		t.Fatalf("Place after RemoveRunner: generation %d, want %d", moved.Generation, a.Generation+1)
	}
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: a.Generation, State: []byte("stale")}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Commit of the removed runner's generation after Place", errs[0], store.ErrFenced)
	if st, err := s.LoadState(ctx, a.ID, moved.Generation); err != nil || string(st) != "late" {
		t.Fatalf("state after re-placement = %q, %v", st, err)
	}

	// Removing a runner that never registered still clears placements
	// naming it.
	ghost := pool + "-ghost"
	g := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "rm", "ghost")).ID, ghost, 0)
	if err := s.RemoveRunner(ctx, ghost); err != nil {
		t.Fatalf("RemoveRunner(unregistered): %v", err)
	}
	if got := mustGet(t, s, g.ID); got.RunnerID != "" || got.Generation != g.Generation {
		t.Fatalf("actor of an unregistered removed runner: runner %q gen %d", got.RunnerID, got.Generation)
	}
}

func testPlace(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	a := mustCreate(t, s, spec(t, ns, "place"))
	p1 := mustPlace(t, s, a.ID, "r1", 0)
	if p1.Generation != 1 || p1.RunnerID != "r1" || !recent(p1.StartedAt) || !p1.SleepAt.IsZero() {
		t.Fatalf("Place(expect 0): gen %d runner %q started %v sleep %v", p1.Generation, p1.RunnerID, p1.StartedAt, p1.SleepAt)
	}
	sameActor(t, "GetActor after Place", p1, mustGet(t, s, a.ID))

	// Unlike Activate, expectGen 0 is a real expectation.
	_, err := s.Place(ctx, a.ID, "r2", 0)
	wantErr(t, "Place(expect 0) of a placed actor", err, store.ErrFenced)
	_, err = s.Place(ctx, a.ID, "r2", 9)
	wantErr(t, "Place(future expectGen)", err, store.ErrFenced)
	sameActor(t, "after fenced Place", p1, mustGet(t, s, a.ID))

	p2 := mustPlace(t, s, a.ID, "r2", 1)
	if p2.Generation != 2 || p2.RunnerID != "r2" {
		t.Fatalf("Place(expect 1): gen %d runner %q", p2.Generation, p2.RunnerID)
	}
	// An asleep actor is placed again with its current generation.
	if err := s.Deactivate(ctx, a.ID, p2.Generation); err != nil {
		t.Fatal(err)
	}
	p3 := mustPlace(t, s, a.ID, "r3", p2.Generation)
	if p3.Generation != 3 || p3.RunnerID != "r3" || !p3.SleepAt.IsZero() {
		t.Fatalf("Place after Deactivate: gen %d runner %q sleep %v", p3.Generation, p3.RunnerID, p3.SleepAt)
	}
	// Place fences the previous generation like Activate does.
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: p2.Generation, State: []byte("stale")}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Commit(previous gen after Place)", errs[0], store.ErrFenced)

	if _, err := s.DestroyActor(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	d := mustGet(t, s, a.ID)
	_, err = s.Place(ctx, a.ID, "r4", d.Generation)
	wantErr(t, "Place(destroyed, current gen)", err, store.ErrDestroyed)
	_, err = s.Place(ctx, a.ID, "r4", p3.Generation)
	wantErr(t, "Place(destroyed, stale gen)", err, store.ErrDestroyed)
	sameActor(t, "destroyed actor after Place", d, mustGet(t, s, a.ID))

	_, err = s.Place(ctx, "no-such-actor", "r1", 0)
	wantErr(t, "Place(missing)", err, store.ErrNotFound)
	b := mustCreate(t, s, spec(t, ns, "place", "b"))
	_, err = s.Place(ctx, b.ID, "", 0)
	wantErr(t, "Place(empty runner)", err, store.ErrInvalid)
	if got := mustGet(t, s, b.ID); got.Generation != 0 {
		t.Fatalf("an invalid Place bumped the generation to %d", got.Generation)
	}
}

func testPlaceConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool := newNS()
	a := mustCreate(t, s, spec(t, newNS(), "pc"))
	const n = 16
	errs := make([]error, n)
	rows := make([]store.Actor, n)
	runner := func(i int) string { return fmt.Sprintf("%s-r%02d", pool, i) }
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rows[i], errs[i] = s.Place(ctx, a.ID, runner(i), 0)
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("Place by %d and %d both won with expectGen 0", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrFenced):
			t.Fatalf("loser %d: %v, want ErrFenced", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent Place won")
	}
	if rows[winner].Generation != 1 || rows[winner].RunnerID != runner(winner) {
		t.Fatalf("winner's row: gen %d runner %q, want 1 %q", rows[winner].Generation, rows[winner].RunnerID, runner(winner))
	}
	sameActor(t, "row after the race", rows[winner], mustGet(t, s, a.ID))
	for i := range n {
		got := onRunner(t, s, runner(i))
		if want := i == winner; want != (len(got) == 1) || len(got) > 1 {
			t.Fatalf("ActorsOnRunner(%s) = %v after the race won by %s", runner(i), got, runner(winner))
		}
	}
}

func testActorsOnRunner(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool, ns := newNS(), newNS()
	rA := newRunner(t, s, pool, "a", 1).ID
	rB := newRunner(t, s, pool, "b", 1).ID
	rC := newRunner(t, s, pool, "c", 2).ID
	var as []store.Actor
	for i := range 5 {
		sp := spec(t, ns, "aor", fmt.Sprint(i))
		sp.ID = fmt.Sprintf("%s-actor-%d", ns, 4-i) // IDs sort opposite to creation
		as = append(as, mustCreate(t, s, sp))
	}
	for i, a := range as {
		r := rA
		if i >= 3 {
			r = rB
		}
		as[i] = mustPlace(t, s, a.ID, r, 0)
	}
	want := []string{as[2].ID, as[1].ID, as[0].ID} // ID order
	if got := onRunner(t, s, rA); !slices.Equal(got, want) {
		t.Fatalf("ActorsOnRunner(A) = %v, want %v", got, want)
	}
	full, err := s.ActorsOnRunner(ctx, rA, 10)
	if err != nil {
		t.Fatal(err)
	}
	sameActor(t, "ActorsOnRunner row", as[2], full[0])
	if got, err := s.ActorsOnRunner(ctx, rA, 2); err != nil || !slices.Equal(ids(got), want[:2]) {
		t.Fatalf("ActorsOnRunner(A, limit 2) = %v, %v; want %v", ids(got), err, want[:2])
	}
	if got := onRunner(t, s, rB); !slices.Equal(got, []string{as[4].ID, as[3].ID}) {
		t.Fatalf("ActorsOnRunner(B) = %v", got)
	}
	wantCounts(t, "after placing", s, pool, map[string]int{rA: 3, rB: 2, rC: 0})

	// Deactivate removes from the runner.
	if err := s.Deactivate(ctx, as[1].ID, as[1].Generation); err != nil {
		t.Fatal(err)
	}
	if got := onRunner(t, s, rA); !slices.Equal(got, []string{as[2].ID, as[0].ID}) {
		t.Fatalf("ActorsOnRunner(A) after Deactivate = %v", got)
	}
	// Place moves between runners.
	as[3] = mustPlace(t, s, as[3].ID, rA, as[3].Generation)
	if got := onRunner(t, s, rA); !slices.Equal(got, []string{as[3].ID, as[2].ID, as[0].ID}) {
		t.Fatalf("ActorsOnRunner(A) after Place from B = %v", got)
	}
	if got := onRunner(t, s, rB); !slices.Equal(got, []string{as[4].ID}) {
		t.Fatalf("ActorsOnRunner(B) after Place to A = %v", got)
	}
	// Destroy removes from the runner.
	if _, err := s.DestroyActor(ctx, as[2].ID); err != nil {
		t.Fatal(err)
	}
	if got := onRunner(t, s, rA); !slices.Equal(got, []string{as[3].ID, as[0].ID}) {
		t.Fatalf("ActorsOnRunner(A) after Destroy = %v", got)
	}
	// Activate moves too, and so does re-activating an asleep actor.
	if _, err := s.Activate(ctx, as[4].ID, rC, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(ctx, as[1].ID, rC, 0); err != nil {
		t.Fatal(err)
	}
	if got := onRunner(t, s, rC); !slices.Equal(got, []string{as[4].ID, as[1].ID}) {
		t.Fatalf("ActorsOnRunner(C) after Activate = %v", got)
	}
	if got := onRunner(t, s, rB); len(got) != 0 {
		t.Fatalf("ActorsOnRunner(B) after Activate to C = %v", got)
	}
	wantCounts(t, "after moves", s, pool, map[string]int{rA: 2, rB: 0, rC: 2})
	if got := onRunner(t, s, pool+"-none"); len(got) != 0 {
		t.Fatalf("ActorsOnRunner(unknown) = %v", got)
	}
}

func testPoolConfig(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool := newNS()
	c, err := s.GetPoolConfig(ctx, pool)
	if err != nil {
		t.Fatalf("GetPoolConfig(never set): %v", err)
	}
	if c.Pool != pool || c.Ready != nil || c.Draining != nil || c.DrainRate != 0 || !c.UpdatedAt.IsZero() {
		t.Fatalf("GetPoolConfig(never set) = %+v, want zero with Pool", c)
	}

	in := store.PoolConfig{Pool: pool, Ready: []uint64{4, 3}, Draining: []uint64{1, 2, 1 << 40}, DrainRate: 2.5,
		UpdatedAt: time.Unix(1, 0)} // ignored: the store stamps it
	if err := s.SetPoolConfig(ctx, in); err != nil {
		t.Fatalf("SetPoolConfig: %v", err)
	}
	c, err = s.GetPoolConfig(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if c.Pool != pool || !slices.Equal(c.Ready, in.Ready) || !slices.Equal(c.Draining, in.Draining) ||
		c.DrainRate != 2.5 || !recent(c.UpdatedAt) {
		t.Fatalf("GetPoolConfig = %+v, want %+v with a recent UpdatedAt", c, in)
	}

	time.Sleep(10 * time.Millisecond)
	if err := s.SetPoolConfig(ctx, store.PoolConfig{Pool: pool, Ready: []uint64{5}}); err != nil {
		t.Fatal(err)
	}
	c2, err := s.GetPoolConfig(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c2.Ready, []uint64{5}) || c2.Draining != nil || c2.DrainRate != 0 || !c2.UpdatedAt.After(c.UpdatedAt) {
		t.Fatalf("GetPoolConfig after replacing = %+v (before %+v)", c2, c)
	}
	if c2.Ramp != nil {
		t.Fatalf("GetPoolConfig without a ramp = %+v", c2.Ramp)
	}
	// A ramp round-trips, and a config without one clears it.
	ramp := store.Ramp{Version: 6, NewPercent: 10, MovePercent: 100}
	if err := s.SetPoolConfig(ctx, store.PoolConfig{Pool: pool, Ready: []uint64{6, 5}, Ramp: &ramp}); err != nil {
		t.Fatal(err)
	}
	if c4, err := s.GetPoolConfig(ctx, pool); err != nil || c4.Ramp == nil || *c4.Ramp != ramp || !slices.Equal(c4.Ready, []uint64{6, 5}) {
		t.Fatalf("GetPoolConfig with a ramp = %+v, %v; want ramp %+v", c4, err, ramp)
	}
	if err := s.SetPoolConfig(ctx, store.PoolConfig{Pool: pool, Ready: []uint64{5}}); err != nil {
		t.Fatal(err)
	}
	if c5, err := s.GetPoolConfig(ctx, pool); err != nil || c5.Ramp != nil {
		t.Fatalf("GetPoolConfig after the ramp was dropped = %+v, %v", c5, err)
	}
	if other, err := s.GetPoolConfig(ctx, newNS()); err != nil || other.Ready != nil {
		t.Fatalf("another pool sees %+v, %v", other, err)
	}

	for _, bad := range []store.PoolConfig{
		{Pool: ""},
		{Pool: pool, DrainRate: -1},
		{Pool: pool, DrainRate: math.NaN()},
		{Pool: pool, DrainRate: math.Inf(1)},
		{Pool: pool, Ready: []uint64{0}},
		{Pool: pool, Draining: []uint64{math.MaxUint64}},
		{Pool: pool, Ramp: &store.Ramp{Version: 0}},
		{Pool: pool, Ramp: &store.Ramp{Version: 2, NewPercent: 101}},
		{Pool: pool, Ramp: &store.Ramp{Version: 2, MovePercent: -1}},
	} {
		wantErr(t, fmt.Sprintf("SetPoolConfig(%+v)", bad), s.SetPoolConfig(ctx, bad), store.ErrInvalid)
	}
	if c3, _ := s.GetPoolConfig(ctx, pool); !slices.Equal(c3.Ready, []uint64{5}) {
		t.Fatalf("an invalid SetPoolConfig changed the config to %+v", c3)
	}
}

func mustTryLease(t *testing.T, s store.Store, name, holder string, ttl time.Duration) bool {
	t.Helper()
	ok, err := s.TryLease(context.Background(), name, holder, ttl)
	if err != nil {
		t.Fatalf("TryLease(%s, %s): %v", name, holder, err)
	}
	return ok
}

func testLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	name := newNS()
	const ttl = 200 * time.Millisecond
	if !mustTryLease(t, s, name, "A", ttl) {
		t.Fatal("A could not take a free lease")
	}
	if mustTryLease(t, s, name, "B", ttl) {
		t.Fatal("B took a lease A holds")
	}
	renewed := time.Now()
	if !mustTryLease(t, s, name, "A", ttl) {
		t.Fatal("A could not renew its lease")
	}
	if mustTryLease(t, s, name, "B", ttl) {
		t.Fatal("B took a lease A just renewed")
	}
	// A stops renewing: B gets it once ttl has passed, not before.
	deadline := time.Now().Add(10 * time.Second)
	for !mustTryLease(t, s, name, "B", ttl) {
		if time.Now().After(deadline) {
			t.Fatal("B never took a lease A stopped renewing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if held := time.Since(renewed); held < ttl/2 {
		t.Fatalf("B took the lease %v after A renewed it for %v", held, ttl)
	}
	if mustTryLease(t, s, name, "A", ttl) {
		t.Fatal("A took the lease back from B")
	}

	// Release hands it over at once; releasing someone else's lease is a
	// no-op.
	other := newNS()
	if !mustTryLease(t, s, other, "A", time.Hour) {
		t.Fatal("A could not take a second lease")
	}
	if err := s.ReleaseLease(ctx, other, "B"); err != nil {
		t.Fatalf("ReleaseLease by a non-holder: %v", err)
	}
	if mustTryLease(t, s, other, "B", time.Hour) {
		t.Fatal("B took a lease after releasing it without holding it")
	}
	if err := s.ReleaseLease(ctx, other, "A"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if !mustTryLease(t, s, other, "B", time.Hour) {
		t.Fatal("B could not take a released lease")
	}
	if err := s.ReleaseLease(ctx, newNS(), "A"); err != nil {
		t.Fatalf("ReleaseLease of an unknown lease: %v", err)
	}
	// The first lease is independent of the second.
	if mustTryLease(t, s, name, "A", ttl) && mustTryLease(t, s, name, "B", ttl) {
		t.Fatal("two holders at once")
	}

	for _, bad := range []struct {
		name, holder string
		ttl          time.Duration
	}{{"", "A", ttl}, {name, "", ttl}, {name, "A", 0}, {name, "A", -time.Second}, {name, "A", store.MaxLeaseTTL + 1}} {
		_, err := s.TryLease(ctx, bad.name, bad.holder, bad.ttl)
		wantErr(t, fmt.Sprintf("TryLease(%q, %q, %v)", bad.name, bad.holder, bad.ttl), err, store.ErrInvalid)
	}
	wantErr(t, "ReleaseLease(empty holder)", s.ReleaseLease(ctx, name, ""), store.ErrInvalid)
}

func testLeaseConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	name := newNS()
	const n = 16
	held := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			held[i], errs[i] = s.TryLease(ctx, name, fmt.Sprint("holder-", i), time.Minute)
		}()
	}
	close(start)
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("TryLease %d: %v", i, errs[i])
		}
		if held[i] {
			winners++
		}
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent TryLease calls took the lease, want 1", winners, n)
	}
}
