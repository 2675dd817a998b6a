package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

// testPlaceActivation: PlaceActivation is Place (its compare-and-set and
// errors) followed by LoadActivation of the placed actor.
func testPlaceActivation(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool := newNS()
	r1 := newRunner(t, s, pool, "r1", 1)
	r2 := newRunner(t, s, pool, "r2", 1)
	if _, err := s.PlaceActivation(ctx, newID(t), r1.ID, 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("PlaceActivation(unknown) = %v, want ErrNotFound", err)
	}

	// An asleep actor with state, three queued messages and two schedules.
	state := []byte{0xa1, 0x61, 0x6e, 0x07}
	a, at := busyActor(t, s, state)
	if err := s.Deactivate(ctx, a.ID, a.Generation); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	if _, err := s.PlaceActivation(ctx, a.ID, "", a.Generation, 10); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("PlaceActivation(no runner) = %v, want ErrInvalid", err)
	}
	wantErr(t, "PlaceActivation with an old generation", func() error {
		_, err := s.PlaceActivation(ctx, a.ID, r1.ID, a.Generation-1, 10)
		return err
	}(), store.ErrFenced)

	got, err := s.PlaceActivation(ctx, a.ID, r1.ID, a.Generation, 2)
	if err != nil {
		t.Fatalf("PlaceActivation: %v", err)
	}
	if got.Actor.Generation != a.Generation+1 || got.Actor.RunnerID != r1.ID || !recent(got.Actor.StartedAt) || !got.Actor.SleepAt.IsZero() {
		t.Fatalf("placed: gen %d runner %q started %v sleep %v; want %d, %s, now, zero",
			got.Actor.Generation, got.Actor.RunnerID, got.Actor.StartedAt, got.Actor.SleepAt, a.Generation+1, r1.ID)
	}
	sameActor(t, "placed row", mustGet(t, s, a.ID), got.Actor)
	sameBusyActivation(t, s, got, state, at)
	// The new generation fences; the old one does not write any more.
	gen := got.Actor.Generation
	mustCommit(t, s, store.Write{ActorID: a.ID, Generation: gen, State: []byte{0xa0}})
	errs, err := s.Commit(ctx, []store.Write{{ActorID: a.ID, Generation: gen - 1, State: []byte{0xa1}}})
	if err != nil || len(errs) != 1 || !errors.Is(errs[0], store.ErrFenced) {
		t.Fatalf("Commit at the old generation: %v %v, want ErrFenced", errs, err)
	}
	// The same compare-and-set again: fenced, the row unchanged.
	wantErr(t, "PlaceActivation again", func() error {
		_, err := s.PlaceActivation(ctx, a.ID, r2.ID, gen-1, 10)
		return err
	}(), store.ErrFenced)
	if b := mustGet(t, s, a.ID); b.Generation != gen || b.RunnerID != r1.ID {
		t.Fatalf("after a fenced PlaceActivation: gen %d runner %q, want %d %s", b.Generation, b.RunnerID, gen, r1.ID)
	}

	// Concurrent callers with the same expectGen: exactly one wins.
	if err := s.Deactivate(ctx, a.ID, gen); err != nil {
		t.Fatalf("Deactivate: %v", err)
	}
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []store.Activation
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := r1.ID
			if i%2 == 1 {
				r = r2.ID
			}
			act, err := s.PlaceActivation(ctx, a.ID, r, gen, 10)
			switch {
			case err == nil:
				mu.Lock()
				wins = append(wins, act)
				mu.Unlock()
			case !errors.Is(err, store.ErrFenced):
				t.Errorf("concurrent PlaceActivation: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("concurrent PlaceActivation: %d winners, want 1", len(wins))
	}
	if b := mustGet(t, s, a.ID); b.Generation != gen+1 || b.RunnerID != wins[0].Actor.RunnerID || wins[0].Actor.Generation != gen+1 {
		t.Fatalf("after the race: row gen %d on %q, winner gen %d on %q", b.Generation, b.RunnerID,
			wins[0].Actor.Generation, wins[0].Actor.RunnerID)
	}
	if !bytes.Equal(wins[0].State, []byte{0xa0}) {
		t.Fatalf("winner's state = %x, want a0 (the last commit)", wins[0].State)
	}

	// Destroyed: ErrDestroyed, nothing placed.
	d, err := s.DestroyActor(ctx, a.ID)
	if err != nil {
		t.Fatalf("DestroyActor: %v", err)
	}
	_, err = s.PlaceActivation(ctx, a.ID, r1.ID, d.Generation, 10)
	wantErr(t, "PlaceActivation(destroyed)", err, store.ErrDestroyed)
	if b := mustGet(t, s, a.ID); b.Generation != d.Generation {
		t.Fatalf("destroyed actor placed: gen %d, want %d", b.Generation, d.Generation)
	}
}
