package runner_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// readCounting counts actor row reads (LoadActivation falls back to
// GetActor on the embedded store).
type readCounting struct {
	store.Store
	n atomic.Int64
}

func (s *readCounting) GetActor(ctx context.Context, id string) (store.Actor, error) {
	s.n.Add(1)
	return s.Store.GetActor(ctx, id)
}

// In runner mode, a request naming the generation of an instance that
// slept here (placement cleared) or was destroyed here is refused as stale
// (gone) without reading the store; a new placement is served.
func TestRunnerRefusesEndedGenerationWithoutReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, t.TempDir(), testActor(0))
	rc := &readCounting{Store: e.st}
	e.rt.SetStoreForTest(rc, true)
	ctx := context.Background()
	id := e.create(t, "t", nil, nil)
	do := func(gen uint64) error {
		_, err := e.rt.Action(ctx, hostapi.ActionRequest{ActorID: id, Generation: gen, Name: "inc", Args: mustMarshal(t, []any{1})})
		return err
	}
	a, err := e.st.Place(ctx, id, "r1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := do(a.Generation); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Stop(ctx, hostapi.Target{ActorID: id, Generation: a.Generation}); err != nil {
		t.Fatal(err)
	}
	if cur, _ := e.st.GetActor(ctx, id); cur.RunnerID != "" || cur.Generation != a.Generation {
		t.Fatalf("after sleep: %+v", cur)
	}
	before := rc.n.Load()
	var pe *errs.Error
	if err := do(a.Generation); !errors.As(err, &pe) || pe.Code != "stale_generation" {
		t.Fatalf("request for the slept generation: %v, want actor/stale_generation", err)
	}
	if n := rc.n.Load() - before; n != 0 {
		t.Fatalf("%d store reads to refuse a slept generation; want 0", n)
	}
	// Placed again (here): served.
	b, err := e.st.Place(ctx, id, "r1", a.Generation)
	if err != nil {
		t.Fatal(err)
	}
	if err := do(b.Generation); err != nil {
		t.Fatalf("request for the new placement: %v", err)
	}
	if err := e.rt.Destroy(ctx, hostapi.Target{ActorID: id, Generation: b.Generation}); err != nil {
		t.Fatal(err)
	}
	before = rc.n.Load()
	if err := do(b.Generation); !errors.Is(err, hostapi.ErrGone) {
		t.Fatalf("request for a destroyed actor: %v, want gone", err)
	}
	if n := rc.n.Load() - before; n != 0 {
		t.Fatalf("%d store reads to refuse a destroyed actor; want 0", n)
	}
}
