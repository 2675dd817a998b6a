package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

// TestDeactivateGrouped runs many Deactivate calls at once, so they run in
// groups: current generations are cleared; stale, destroyed and unknown
// actors get the errors of a lone call; nothing else changes.
func TestDeactivateGrouped(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	const n = 80
	gens := make([]uint64, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprint("a", i)
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		a, err := s.Place(ctx, id, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		gens[i] = a.Generation
		if i%4 == 3 {
			if _, err := s.DestroyActor(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	for i := 0; i <= n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch {
			case i == n:
				errs[i] = s.Deactivate(ctx, "no-such-actor", 1)
			case i%4 == 1:
				errs[i] = s.Deactivate(ctx, fmt.Sprint("a", i), gens[i]+1) // stale (a future generation)
			default:
				errs[i] = s.Deactivate(ctx, fmt.Sprint("a", i), gens[i])
			}
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		a, err := s.GetActor(ctx, fmt.Sprint("a", i))
		if err != nil {
			t.Fatal(err)
		}
		switch i % 4 {
		case 1:
			if !errors.Is(errs[i], store.ErrFenced) || a.RunnerID != "r" {
				t.Fatalf("stale deactivate of a%d: %v, runner %q", i, errs[i], a.RunnerID)
			}
		case 3:
			if !errors.Is(errs[i], store.ErrFenced) || !errors.Is(errs[i], store.ErrDestroyed) {
				t.Fatalf("deactivate of destroyed a%d: %v", i, errs[i])
			}
		default:
			if errs[i] != nil || a.RunnerID != "" || a.SleepAt.IsZero() || a.Generation != gens[i] {
				t.Fatalf("deactivate of a%d: %v; row %+v", i, errs[i], a)
			}
		}
	}
	if !errors.Is(errs[n], store.ErrNotFound) {
		t.Fatalf("deactivate of an unknown actor: %v", errs[n])
	}
}
