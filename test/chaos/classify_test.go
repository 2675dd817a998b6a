package main

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/rivetkube/rivetkube/client"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	stopping := &client.ActorError{Group: "actor", Code: "stopping"}
	tests := []struct {
		name string
		err  error
		want Outcome
	}{
		{"refused before running", stopping, Failed},
		{"timed out action", &client.ActorError{Group: "actor", Code: "action_timed_out"}, Unknown},
		{"dropped reply", &client.ActorError{Group: "actor", Code: "dropped_reply"}, Unknown},
		// A WebSocket closed with a reason while the call was pending: the
		// action may have run even though the reason says "stopping".
		{"connection lost with a reason", fmt.Errorf("call: %w: %w", client.ErrConnectionLost, stopping), Unknown},
		{"dial error", fmt.Errorf("post: %w", &net.OpError{Op: "dial", Err: fmt.Errorf("refused")}), Failed},
		{"read error", fmt.Errorf("post: %w", &net.OpError{Op: "read", Err: fmt.Errorf("reset")}), Unknown},
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), Unknown},
		{"queue wait ran out", errNotCompleted, Unknown},
	}
	for _, tc := range tests {
		if got, code := classify(tc.err); got != tc.want {
			t.Errorf("%s: classify = %v (%s), want %v", tc.name, got, code, tc.want)
		}
	}
}
