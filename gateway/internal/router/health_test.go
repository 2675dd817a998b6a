package router

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// failingRunner answers actions named "boom" with an internal error,
// "slow" with a timeout and "user" with a user error.
type failingRunner struct{ *fakeRunner }

func (f failingRunner) Action(ctx context.Context, req hostapi.ActionRequest) ([]byte, error) {
	out, err := f.fakeRunner.Action(ctx, req)
	if err != nil {
		return out, err
	}
	switch req.Name {
	case "boom":
		return nil, errs.Internal()
	case "slow":
		return nil, errs.ActionTimedOut()
	case "user":
		return nil, errs.New(http.StatusBadRequest, "user", "bad_input", "no")
	}
	return out, nil
}

func TestPoolStatusReportsVersionHealth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, "r1")
	rt := New(Config{
		Store: f.st,
		Dial: func(_ context.Context, r store.Runner) (Caller, error) {
			if fr, ok := f.runners[r.ID]; ok {
				return failingRunner{fr}, nil
			}
			return nil, errors.New("no such runner")
		},
		RunnerRefresh: 1,
	})
	a := createA1(t, rt)
	for _, name := range []string{"ok", "ok", "boom", "slow", "user", "ok"} {
		_, _ = rt.Action(ctx, hostapi.ActionRequest{ActorID: a.ID, Name: name})
	}
	st, err := rt.PoolStatus(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	if v := st.Versions["1"]; v.Calls != 6 || v.FailedCalls != 2 {
		t.Fatalf("version 1 health: %d calls, %d failed; want 6 and 2 (internal error and timeout, not the user error)", v.Calls, v.FailedCalls)
	}
}
