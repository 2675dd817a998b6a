package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// testLoadActivationMatchesReads: LoadActivation (on PostgreSQL one
// statement for a lone call, a pipeline for a group) returns exactly what
// the reads one by one (readActivation: GetActor,
// ListQueue, ListSchedules, LoadState) return, for actors that are new,
// initialized with state, with queue heads longer and shorter than the
// limit, with schedules (same due time: ordered by ID), empty bodies and
// arguments, and destroyed; alone (one statement) and loaded all at once
// (grouped reads).
func testLoadActivationMatchesReads(t *testing.T, s store.Store) {
	ctx := context.Background()
	ns := newNS()
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
	ids := make([]string, len(cases))
	for i := range ids {
		ids[i] = newID(t)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := ids[i]
			if _, err := s.CreateActor(ctx, store.ActorSpec{ID: id, Namespace: ns, Name: "n", Key: []string{id}, Input: []byte{9}}); err != nil {
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
				want, err := readActivation(ctx, s, id, limit)
				if err != nil {
					t.Fatal(err)
				}
				if !c.destroy && c.state != nil && got.State == nil {
					t.Errorf("limit %d: no state loaded", limit)
				}
				if g, w := fmt.Sprintf("%+v", utcActivation(got)), fmt.Sprintf("%+v", utcActivation(want)); g != w {
					t.Errorf("limit %d:\nLoadActivation  %s\nread one by one %s", limit, g, w)
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
				id, limit := ids[i], 1+round%3
				got, err := s.LoadActivation(ctx, id, limit)
				if err != nil {
					t.Error(err)
					return
				}
				want, err := readActivation(ctx, s, id, limit)
				if err != nil {
					t.Error(err)
					return
				}
				if g, w := fmt.Sprintf("%+v", utcActivation(got)), fmt.Sprintf("%+v", utcActivation(want)); g != w {
					t.Errorf("%s, limit %d, grouped:\nLoadActivation  %s\nread one by one %s", id, limit, g, w)
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

// readActivation reads what an instance needs at activation one read at a
// time, with GetActor, ListQueue, ListSchedules and the row's state
// (unfenced, by the generation just read): the reference LoadActivation
// is checked against.
func readActivation(ctx context.Context, st store.Store, id string, queueLimit int) (store.Activation, error) {
	a, err := st.GetActor(ctx, id)
	if err != nil || a.Destroyed() {
		return store.Activation{Actor: a}, err
	}
	out := store.Activation{Actor: a}
	if out.Queue, err = st.ListQueue(ctx, id, 0, nil, queueLimit); err != nil {
		return out, err
	}
	if out.Schedules, err = st.ListSchedules(ctx, id); err != nil {
		return out, err
	}
	if a.Initialized {
		out.State, err = st.LoadState(ctx, id, a.Generation)
		if errors.Is(err, store.ErrFenced) {
			// Moved on since the read: the caller's generation check fails
			// on the next read; report the row as read.
			err = nil
		}
	}
	return out, err
}
