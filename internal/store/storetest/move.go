package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

// moveTests are the subtests of MovePlacements (the drain's batch).
var moveTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"MovePlacements", testMovePlacements},
	{"MovePlacementsConcurrent", testMovePlacementsConcurrent},
}

func testMovePlacements(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	pool := "mv-" + newNS()
	src := newRunner(t, s, pool, "src", 1)
	dst := newRunner(t, s, pool, "dst", 2)

	// placed: on src, never stopped (not woken by the move);
	// slept: stopped on src (placement cleared), woken by the mover;
	// stale: moved on since the mover saw it; elsewhere: placed on another
	// runner at the same generation; destroyed; invalid entries.
	placed := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "move", "placed")).ID, src.ID, 0)
	slept := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "move", "slept")).ID, src.ID, 0)
	if err := s.Deactivate(ctx, slept.ID, slept.Generation); err != nil {
		t.Fatal(err)
	}
	stale := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "move", "stale")).ID, src.ID, 0)
	staleNow := mustPlace(t, s, stale.ID, src.ID, stale.Generation)
	elsewhere := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "move", "elsewhere")).ID, "other", 0)
	gone := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "move", "gone")).ID, src.ID, 0)
	goneRow, err := s.DestroyActor(ctx, gone.ID)
	if err != nil {
		t.Fatal(err)
	}

	moves := []store.Move{
		{ID: placed.ID, From: src.ID, Gen: placed.Generation, To: dst.ID},
		{ID: slept.ID, From: src.ID, Gen: slept.Generation, To: dst.ID},
		{ID: stale.ID, From: src.ID, Gen: stale.Generation, To: dst.ID},
		{ID: elsewhere.ID, From: src.ID, Gen: elsewhere.Generation, To: dst.ID},
		{ID: gone.ID, From: src.ID, Gen: goneRow.Generation, To: dst.ID},
		{ID: "no-such-actor", From: src.ID, Gen: 1, To: dst.ID},
		{ID: "", From: src.ID, Gen: 1, To: dst.ID},
		{ID: placed.ID, From: src.ID, Gen: placed.Generation, To: dst.ID}, // twice
		{ID: "x-" + newID(t), From: src.ID, Gen: 1, To: ""},
	}
	res, err := s.MovePlacements(ctx, moves)
	if err != nil {
		t.Fatalf("MovePlacements: %v", err)
	}
	if len(res) != len(moves) {
		t.Fatalf("MovePlacements: %d results for %d moves", len(res), len(moves))
	}
	for i, want := range []struct {
		asleep bool
		err    error
	}{{false, nil}, {true, nil}, {false, store.ErrFenced}, {false, store.ErrFenced}, {false, store.ErrDestroyed},
		{false, store.ErrNotFound}, {false, store.ErrInvalid}, {false, store.ErrInvalid}, {false, store.ErrInvalid}} {
		what := fmt.Sprintf("move %d (%s)", i, moves[i].ID)
		if want.err != nil {
			wantErr(t, what, res[i].Err, want.err)
			continue
		}
		if res[i].Err != nil {
			t.Fatalf("%s: %v", what, res[i].Err)
		}
		a := res[i].Actor
		if a.ID != moves[i].ID || a.RunnerID != dst.ID || a.Generation != moves[i].Gen+1 || !a.SleepAt.IsZero() || !recent(a.StartedAt) {
			t.Fatalf("%s: row %+v, want on %s at generation %d, awake", what, a, dst.ID, moves[i].Gen+1)
		}
		if res[i].WasAsleep != want.asleep {
			t.Fatalf("%s: WasAsleep %v, want %v", what, res[i].WasAsleep, want.asleep)
		}
		sameActor(t, what+": GetActor", a, mustGet(t, s, a.ID))
	}
	sameActor(t, "stale actor untouched", staleNow, mustGet(t, s, stale.ID))
	sameActor(t, "actor elsewhere untouched", elsewhere, mustGet(t, s, elsewhere.ID))
	sameActor(t, "destroyed actor untouched", goneRow, mustGet(t, s, gone.ID))
	wantCounts(t, "after moves", s, pool, map[string]int{src.ID: 1, dst.ID: 2})

	// The move fences the generation the actor had on the old runner.
	errs, err := s.Commit(ctx, []store.Write{{ActorID: placed.ID, Generation: placed.Generation, State: []byte("stale")}})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Commit(generation before the move)", errs[0], store.ErrFenced)

	// Whole-batch limits.
	if _, err := s.MovePlacements(ctx, make([]store.Move, store.MaxMoveBatch+1)); err == nil {
		t.Fatalf("MovePlacements(%d moves): no error", store.MaxMoveBatch+1)
	} else {
		wantErr(t, "MovePlacements(too many)", err, store.ErrInvalid)
	}
	if res, err := s.MovePlacements(ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("MovePlacements(nil) = %v, %v", res, err)
	}
}

// testMovePlacementsConcurrent races batches moving the same actors (two
// gateways that both think they lead): each actor moves exactly once.
func testMovePlacementsConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
	pool := "mvc-" + newNS()
	src := newRunner(t, s, pool, "src", 1)
	var moves []store.Move
	for i := range 40 {
		a := mustPlace(t, s, mustCreate(t, s, spec(t, ns, "movec", fmt.Sprint(i))).ID, src.ID, 0)
		moves = append(moves, store.Move{ID: a.ID, From: src.ID, Gen: a.Generation})
	}
	const movers = 4
	wins := make([][]bool, movers)
	var wg sync.WaitGroup
	for m := range movers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]store.Move, len(moves))
			for i, mv := range moves {
				mv.To = fmt.Sprintf("%s-dst%d", pool, m)
				// Each mover goes through the actors in another order.
				batch[(i+m*7)%len(moves)] = mv
			}
			res, err := s.MovePlacements(ctx, batch)
			if err != nil {
				t.Errorf("mover %d: %v", m, err)
				return
			}
			wins[m] = make([]bool, len(moves))
			for i, r := range res {
				if r.Err == nil {
					wins[m][(i-m*7%len(moves)+len(moves))%len(moves)] = true
				} else {
					wantErr(t, fmt.Sprintf("mover %d move %d", m, i), r.Err, store.ErrFenced)
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, mv := range moves {
		n, winner := 0, -1
		for m := range movers {
			if wins[m][i] {
				n, winner = n+1, m
			}
		}
		if n != 1 {
			t.Fatalf("actor %s moved %d times, want once", mv.ID, n)
		}
		if a := mustGet(t, s, mv.ID); a.Generation != mv.Gen+1 || a.RunnerID != fmt.Sprintf("%s-dst%d", pool, winner) {
			t.Fatalf("actor %s: gen %d on %s, want %d on mover %d's runner", mv.ID, a.Generation, a.RunnerID, mv.Gen+1, winner)
		}
	}
}
