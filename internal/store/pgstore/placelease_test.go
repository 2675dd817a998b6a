package pgstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

// TestPlaceLease: with Options.PlaceLease, Place takes an actor off its
// runner only once that runner's heartbeat is older than the lease (by the
// database clock) or the runner is gone; a gateway's old view of the
// registry cannot move it earlier (the chaos harness found such moves,
// docs/reliability.md). Without the option Place ignores the registry.
func TestPlaceLease(t *testing.T) {
	t.Parallel()
	url := pgtest.StartServer(t).NewDatabase(t)
	ctx := context.Background()
	s, err := Open(ctx, url, Options{MaxConns: 2, PlaceLease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	plain := open(t, url)
	for _, r := range []string{"r1", "r2", "r3"} {
		if err := s.UpsertRunner(ctx, store.Runner{ID: r, Pool: "default", Version: 1, Address: r + ":1"}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.CreateActor(ctx, store.ActorSpec{ID: "0123456789abcdef0123456789abcdef", Namespace: "default", Name: "counter", Key: []string{"k"}})
	if err != nil {
		t.Fatal(err)
	}
	place := func(st *Store, runner string, gen uint64) (store.Actor, error) {
		return st.Place(ctx, a.ID, runner, gen)
	}

	p1, err := place(s, "r1", 0) // never placed: nothing to check
	if err != nil || p1.Generation != 1 {
		t.Fatalf("first Place: %+v, %v", p1, err)
	}
	if _, err := place(s, "r2", 1); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("Place off r1 while its heartbeat is fresh: %v, want ErrFenced", err)
	}
	if got, _ := s.GetActor(ctx, a.ID); got.Generation != 1 || got.RunnerID != "r1" {
		t.Fatalf("a refused Place changed the actor: gen %d runner %q", got.Generation, got.RunnerID)
	}
	if p, err := place(s, "r1", 1); err != nil || p.Generation != 2 {
		t.Fatalf("Place on the same runner: %+v, %v", p, err)
	}
	// r1 falls silent for longer than the lease.
	if _, err := s.Pool().Exec(ctx, `UPDATE runners SET heartbeat_at = now() - interval '2 hours' WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	p3, err := place(s, "r2", 2)
	if err != nil || p3.Generation != 3 || p3.RunnerID != "r2" {
		t.Fatalf("Place off a silent runner: %+v, %v", p3, err)
	}
	// A removed runner holds no lease either.
	if err := s.RemoveRunner(ctx, "r3"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE actors SET runner_id = 'r3' WHERE id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	if p, err := place(s, "r2", 3); err != nil || p.Generation != 4 {
		t.Fatalf("Place off a removed runner: %+v, %v", p, err)
	}
	// Without the option a live runner does not matter.
	if p, err := place(plain, "r1", 4); err != nil || p.Generation != 5 {
		t.Fatalf("Place without PlaceLease: %+v, %v", p, err)
	}
}
