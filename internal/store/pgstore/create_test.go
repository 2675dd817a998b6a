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

// TestGetOrCreateGrouped drives many concurrent GetOrCreateActor calls, so
// they run in groups: several callers per key (exactly one creates, all
// get its row), a spec whose ID is taken (ErrExists for it alone, while
// its group falls back to single statements), and keys that exist already.
func TestGetOrCreateGrouped(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	const keys, perKey = 40, 4
	old := map[int]store.Actor{}
	for k := 0; k < keys; k += 5 { // every fifth key exists already
		a, err := s.CreateActor(ctx, store.ActorSpec{ID: fmt.Sprint("old-", k), Namespace: "ns", Name: "n", Key: []string{fmt.Sprint(k)}})
		if err != nil {
			t.Fatal(err)
		}
		old[k] = a
	}
	type result struct {
		key     int
		id      string
		a       store.Actor
		created bool
		err     error
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []result
	)
	for round := 0; round < 3; round++ {
		for k := 0; k < keys; k++ {
			for j := 0; j < perKey; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("id-%d-%d-%d", round, k, j)
					if k == 7 && j == 0 && round == 0 {
						id = "old-0" // taken by another key's actor
					}
					a, created, err := s.GetOrCreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{fmt.Sprint(k)}, Pool: "p", RunnerID: "r"})
					mu.Lock()
					out = append(out, result{k, id, a, created, err})
					mu.Unlock()
				}()
			}
		}
	}
	wg.Wait()
	byKey := map[int]string{}
	creators := map[int]int{}
	for _, r := range out {
		if r.id == "old-0" {
			// ErrExists when its spec was the one to insert; otherwise it
			// got the key's actor like any other caller.
			if r.err != nil && !errors.Is(r.err, store.ErrExists) || r.err == nil && (r.created || r.a.ID == "old-0") {
				t.Fatalf("spec with a taken ID: %+v, %v", r.a, r.err)
			}
			if r.err != nil {
				continue
			}
		}
		if r.err != nil {
			t.Fatalf("key %d: %v", r.key, r.err)
		}
		if want, ok := byKey[r.key]; ok && want != r.a.ID {
			t.Fatalf("key %d: callers got %s and %s", r.key, want, r.a.ID)
		}
		byKey[r.key] = r.a.ID
		if r.created {
			creators[r.key]++
			if r.a.ID != r.id || r.a.RunnerID != "r" || r.a.Generation != 1 {
				t.Fatalf("key %d: created %+v for spec %s", r.key, r.a, r.id)
			}
		}
	}
	for k := 0; k < keys; k++ {
		if a, ok := old[k]; ok {
			if creators[k] != 0 || byKey[k] != a.ID {
				t.Fatalf("existing key %d: %d creators, got %s, want %s", k, creators[k], byKey[k], a.ID)
			}
			continue
		}
		if creators[k] != 1 {
			t.Fatalf("key %d: %d callers created it, want 1", k, creators[k])
		}
	}
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM actors WHERE destroyed_at IS NULL`).Scan(&n); err != nil || n != keys {
		t.Fatalf("%d live actors (%v), want %d", n, err, keys)
	}
}
