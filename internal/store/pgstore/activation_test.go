package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
	"github.com/rivetkube/rivetkube/internal/testutil/pgtest"
)

// TestLoadActivationGrouped loads many actors at once, so the loads run in
// groups: each caller gets its own actor's row, queue (up to its own
// limit), schedules and state, and an unknown ID gets ErrNotFound.
func TestLoadActivationGrouped(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	const n = 60
	at := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	for i := 0; i < n; i++ {
		id := fmt.Sprint("a", i)
		if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}}); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			continue // brand new: nothing but the row
		}
		a, err := s.Activate(ctx, id, "r", 0)
		if err != nil {
			t.Fatal(err)
		}
		w := store.Write{ActorID: id, Generation: a.Generation, State: []byte(id), Initialized: true}
		for j := 0; j < i%4; j++ {
			w.SchedulePuts = append(w.SchedulePuts, store.Schedule{ID: fmt.Sprint("s", j), At: at.Add(time.Duration(j) * time.Minute), Action: id})
		}
		if errs, err := s.Commit(ctx, []store.Write{w}); err != nil || errs[0] != nil {
			t.Fatal(err, errs)
		}
		for j := 0; j < i%5; j++ {
			if _, err := s.Enqueue(ctx, id, id, []byte{byte(j)}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	errCh := make(chan error, 3*n)
	for round := 0; round < 3; round++ {
		for i := 0; i <= n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprint("a", i)
				limit := 1 + i%3
				got, err := s.LoadActivation(ctx, id, limit)
				if i == n {
					if err == nil {
						errCh <- fmt.Errorf("unknown actor loaded: %+v", got)
					}
					return
				}
				if err != nil {
					errCh <- fmt.Errorf("%s: %v", id, err)
					return
				}
				wantState, wantScs, wantQ := id, i%4, min(i%5, limit)
				if i%3 == 0 {
					wantState, wantScs, wantQ = "", 0, 0
				}
				if got.Actor.ID != id || string(got.State) != wantState || len(got.Schedules) != wantScs || len(got.Queue) != wantQ {
					errCh <- fmt.Errorf("%s: row %s, state %q, %d schedules, %d queued; want %q, %d, %d",
						id, got.Actor.ID, got.State, len(got.Schedules), len(got.Queue), wantState, wantScs, wantQ)
					return
				}
				for j, m := range got.Queue {
					if m.ActorID != id || m.Name != id || len(m.Body) != 1 || m.Body[0] != byte(j) {
						errCh <- fmt.Errorf("%s: message %d: %+v", id, j, m)
					}
				}
				for j, sc := range got.Schedules {
					if sc.ActorID != id || sc.ID != fmt.Sprint("s", j) || sc.Action != id {
						errCh <- fmt.Errorf("%s: schedule %d: %+v", id, j, sc)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		t.Error(err)
	}
}
