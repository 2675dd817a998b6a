package pgstore

import (
	"context"
	"fmt"
	"slices"
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

// TestLoadActivationMatchesReads: the one-statement LoadActivation returns
// exactly what the reads one by one (store.ReadActivation: GetActor,
// ListQueue, ListSchedules, LoadState) return, for actors that are new,
// initialized with state, with queue heads longer and shorter than the
// limit, with schedules (same due time: ordered by ID), empty bodies and
// arguments, and destroyed; alone (one statement) and loaded all at once
// (grouped reads).
func TestLoadActivationMatchesReads(t *testing.T) {
	t.Parallel()
	srv := pgtest.StartServer(t)
	s := open(t, srv.NewDatabase(t))
	ctx := context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	type setup struct {
		name      string
		activate  bool
		state     []byte
		schedules []store.Schedule
		queue     [][]byte
		destroy   bool
	}
	cases := []setup{
		{name: "new"},
		{name: "placed, no state", activate: true},
		{name: "state only", activate: true, state: []byte{0xa1, 0x61, 0x6e, 0x01}},
		{name: "empty state", activate: true, state: []byte{}},
		{name: "queue over the limit", activate: true, state: []byte{1}, queue: [][]byte{{1}, {}, {3}, {4}, {5}}},
		{name: "queue under the limit", activate: true, state: []byte{2}, queue: [][]byte{{7}}},
		{name: "schedules", activate: true, state: []byte{3}, schedules: []store.Schedule{
			{ID: "b", At: at, Action: "x", Args: []byte{1}},
			{ID: "a", At: at, Action: "y", Args: []byte{}},
			{ID: "c", At: at.Add(-time.Minute), Action: "z", Args: []byte{2, 3}},
		}},
		{name: "everything, destroyed", activate: true, state: []byte{4}, queue: [][]byte{{1}},
			schedules: []store.Schedule{{ID: "a", At: at, Action: "x", Args: []byte{1}}}, destroy: true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprint("m", i)
			if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: "ns", Name: "n", Key: []string{id}, Input: []byte{9}}); err != nil {
				t.Fatal(err)
			}
			if c.activate {
				a, err := s.Activate(ctx, id, "r", 0)
				if err != nil {
					t.Fatal(err)
				}
				w := store.Write{ActorID: id, Generation: a.Generation, State: c.state, Initialized: c.state != nil, SchedulePuts: c.schedules}
				if errs, err := s.Commit(ctx, []store.Write{w}); err != nil || errs[0] != nil {
					t.Fatal(err, errs)
				}
			}
			for j, b := range c.queue {
				if _, err := s.Enqueue(ctx, id, fmt.Sprint("q", j), b, 0); err != nil {
					t.Fatal(err)
				}
			}
			if c.destroy {
				if _, err := s.DestroyActor(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			for _, limit := range []int{1, 3, 256} {
				got, err := s.LoadActivation(ctx, id, limit)
				if err != nil {
					t.Fatal(err)
				}
				want, err := store.ReadActivation(ctx, s, id, limit)
				if err != nil {
					t.Fatal(err)
				}
				if !c.destroy && c.state != nil && got.State == nil {
					t.Errorf("limit %d: no state loaded", limit)
				}
				if g, w := fmt.Sprintf("%+v", utcActivation(got)), fmt.Sprintf("%+v", utcActivation(want)); g != w {
					t.Errorf("limit %d:\nLoadActivation  %s\nReadActivation  %s", limit, g, w)
				}
			}
		})
	}
	// All at once, several times each: the calls form groups.
	var wg sync.WaitGroup
	for round := range 4 {
		for i := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, limit := fmt.Sprint("m", i), 1+round%3
				got, err := s.LoadActivation(ctx, id, limit)
				if err != nil {
					t.Error(err)
					return
				}
				want, err := store.ReadActivation(ctx, s, id, limit)
				if err != nil {
					t.Error(err)
					return
				}
				if g, w := fmt.Sprintf("%+v", utcActivation(got)), fmt.Sprintf("%+v", utcActivation(want)); g != w {
					t.Errorf("%s, limit %d, grouped:\nLoadActivation  %s\nReadActivation  %s", id, limit, g, w)
				}
			}()
		}
	}
	wg.Wait()
}

// utcActivation is a with every time in UTC, so that equal activations
// print the same.
func utcActivation(a store.Activation) store.Activation {
	utc := func(t *time.Time) { *t = t.UTC() }
	utc(&a.Actor.CreatedAt)
	utc(&a.Actor.StartedAt)
	utc(&a.Actor.SleepAt)
	utc(&a.Actor.DestroyedAt)
	a.Queue = slices.Clone(a.Queue)
	for i := range a.Queue {
		utc(&a.Queue[i].EnqueuedAt)
	}
	a.Schedules = slices.Clone(a.Schedules)
	for i := range a.Schedules {
		utc(&a.Schedules[i].At)
		utc(&a.Schedules[i].CreatedAt)
	}
	return a
}
