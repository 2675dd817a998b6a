package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rivetkube/rivetkube/internal/store"
)

func TestRetryClass(t *testing.T) {
	t.Parallel()
	cases := []struct {
		group, code string
		want        Retry
	}{
		{"actor", "stopping", RetryAlways},
		{"actor", "starting", RetryAlways},
		{"actor", "stale_generation", RetryAlways},
		{"actor", "not_configured", RetryAlways},
		{"guard", "service_unavailable", RetryAlways},
		{"actor", "dropped_reply", RetryIfIdempotent},
		{"actor", "not_found", RetryIfGetOrCreate},
		{"actor", "destroyed_while_waiting_for_ready", RetryByKey},
		{"actor", "destroying", RetryByKey},
		{"actor", "internal_error", NoRetry},
		{"actor", "overloaded", NoRetry},
		{"actor", "not_ready", NoRetry}, // the gateway's hold was the retry
		{"user", "stopping", NoRetry},   // a user's code never retries
		{"actor", "name_not_found", NoRetry},
	}
	for _, c := range cases {
		if got := RetryClass(c.group, c.code); got != c.want {
			t.Errorf("RetryClass(%s, %s) = %d, want %d", c.group, c.code, got, c.want)
		}
	}
	if !Retryable(fmt.Errorf("wrapped: %w", Stopping())) {
		t.Error("a wrapped actor/stopping is not Retryable")
	}
	if Retryable(errors.New("stopping")) {
		t.Error("a plain error is Retryable")
	}
}

func TestFromStore(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   error
		want *Error
	}{
		{fmt.Errorf("x: %w", store.ErrNotFound), ErrNotFound},
		{store.ErrDestroyed, ErrNotFound},
		{store.ErrExists, ErrActorExists},
		{fmt.Errorf("actor a: %w", store.ErrFenced), ErrStopping},
		{store.ErrClosed, ErrStopping},
		{context.DeadlineExceeded, &Error{Group: "engine", Code: "unavailable"}},
		{errors.New("disk on fire"), &Error{Group: "engine", Code: "unavailable"}},
		{Overloaded("queue"), ErrOverloaded},
	}
	for _, c := range cases {
		got := FromStore(c.in)
		if !errors.Is(got, c.want) {
			t.Errorf("FromStore(%v) = %v, want %s/%s", c.in, got, c.want.Group, c.want.Code)
		}
	}
	if FromStore(nil) != nil {
		t.Error("FromStore(nil) != nil")
	}
}
