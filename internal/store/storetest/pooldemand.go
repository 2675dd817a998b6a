package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rivetkube/rivetkube/internal/store"
)

// poolActivity returns pool's entry of ListPoolActivity (ok false when
// it has none).
func poolActivity(t *testing.T, s store.Store, pool string) (store.PoolActivity, bool) {
	t.Helper()
	all, err := s.ListPoolActivity(context.Background())
	if err != nil {
		t.Fatalf("ListPoolActivity: %v", err)
	}
	if !slices.IsSortedFunc(all, func(a, b store.PoolActivity) int { return strings.Compare(a.Pool, b.Pool) }) {
		t.Fatalf("ListPoolActivity is not ordered by pool: %+v", all)
	}
	for _, a := range all {
		if a.Pool == pool {
			return a, true
		}
	}
	return store.PoolActivity{}, false
}

// testPoolActivity: names are remembered sorted and unique and replaced
// by the next SetPoolNames; demand is stamped by the store's clock, kept
// by SetPoolNames, and moves forward with every NotePoolDemand; bad
// arguments are ErrInvalid.
func testPoolActivity(t *testing.T, s store.Store) {
	ctx := context.Background()
	pool, other := newNS(), newNS()
	if _, ok := poolActivity(t, s, pool); ok {
		t.Fatalf("pool %s has activity before anything was noted", pool)
	}

	if err := s.SetPoolNames(ctx, pool, []string{"room", "counter", "room", ""}); err != nil {
		t.Fatalf("SetPoolNames: %v", err)
	}
	a, ok := poolActivity(t, s, pool)
	if !ok || !slices.Equal(a.Names, []string{"", "counter", "room"}) || !a.DemandAt.IsZero() || a.SinceDemand != 0 {
		t.Fatalf("after SetPoolNames: %+v (listed %v), want names [\"\" counter room] and no demand", a, ok)
	}

	before := time.Now()
	if err := s.NotePoolDemand(ctx, pool); err != nil {
		t.Fatalf("NotePoolDemand: %v", err)
	}
	a, _ = poolActivity(t, s, pool)
	if a.DemandAt.IsZero() || a.SinceDemand < 0 || a.SinceDemand > time.Minute {
		t.Fatalf("after NotePoolDemand: %+v, want a recent demand", a)
	}
	if a.DemandAt.Before(before.Add(-time.Minute)) {
		t.Fatalf("demand stamped at %v, long before the call at %v", a.DemandAt, before)
	}
	first := a.DemandAt
	if !slices.Equal(a.Names, []string{"", "counter", "room"}) {
		t.Fatalf("NotePoolDemand changed the names: %v", a.Names)
	}

	// Names are replaced, demand kept.
	if err := s.SetPoolNames(ctx, pool, []string{"counter"}); err != nil {
		t.Fatalf("SetPoolNames again: %v", err)
	}
	a, _ = poolActivity(t, s, pool)
	if !slices.Equal(a.Names, []string{"counter"}) || !a.DemandAt.Equal(first) {
		t.Fatalf("after second SetPoolNames: %+v, want names [counter] and demand %v", a, first)
	}
	if err := s.SetPoolNames(ctx, pool, nil); err != nil {
		t.Fatalf("SetPoolNames(nil): %v", err)
	}
	if a, _ = poolActivity(t, s, pool); a.Names != nil {
		t.Fatalf("after SetPoolNames(nil): names %q, want nil", a.Names)
	}

	// Demand only moves forward; another pool's demand is its own.
	time.Sleep(5 * time.Millisecond)
	if err := s.NotePoolDemand(ctx, pool); err != nil {
		t.Fatalf("NotePoolDemand again: %v", err)
	}
	if a, _ = poolActivity(t, s, pool); !a.DemandAt.After(first) {
		t.Fatalf("second demand %v is not after the first %v", a.DemandAt, first)
	}
	if err := s.NotePoolDemand(ctx, other); err != nil {
		t.Fatalf("NotePoolDemand(other): %v", err)
	}
	if o, ok := poolActivity(t, s, other); !ok || o.Names != nil || o.DemandAt.IsZero() {
		t.Fatalf("other pool: %+v (listed %v), want demand and no names", o, ok)
	}

	for name, err := range map[string]error{
		"demand, empty pool":   s.NotePoolDemand(ctx, ""),
		"demand, long pool":    s.NotePoolDemand(ctx, strings.Repeat("p", store.MaxPoolNameSize+1)),
		"names, empty pool":    s.SetPoolNames(ctx, "", []string{"a"}),
		"names, too many":      s.SetPoolNames(ctx, pool, make([]string, store.MaxPoolNames+1)),
		"names, name too long": s.SetPoolNames(ctx, pool, []string{strings.Repeat("n", store.MaxActorNameSize+1)}),
	} {
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
