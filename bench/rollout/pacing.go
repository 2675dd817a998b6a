package main

import (
	"context"
	"fmt"

	"github.com/rivetkube/rivetkube/internal/metrics/scrape"
)

// drainPacing reads the gateway's drain metrics after the roll: the
// leader's accounting of its token bucket (moves started, time active,
// time held back by something other than the rate) and the mean duration
// of each step of a move.
func drainPacing(ctx context.Context, addr string) ([]string, error) {
	s, err := scrape.Fetch(ctx, "http://"+addr+"/metrics")
	if err != nil {
		return nil, fmt.Errorf("gateway metrics: %w", err)
	}
	started, _ := scrape.Sum(s, "rivetkube_gateway_drain_moves_started_total")
	active, _ := scrape.Sum(s, "rivetkube_gateway_drain_active_seconds_total")
	stalled, _ := scrape.Sum(s, "rivetkube_gateway_drain_stalled_seconds_total")
	out := []string{fmt.Sprintf("%-34s %.0f moves started in %.1f s of drain, %.1f s of it held back (busy workers, listing, moves in flight)",
		"drain pacing (leader's accounting)", started, active, stalled)}
	line := fmt.Sprintf("%-34s", "mean move step")
	for _, step := range []string{"stop", "place", "wake"} {
		sum, _ := scrape.Sum(s, "rivetkube_gateway_drain_move_step_seconds_sum", "step", step)
		n, _ := scrape.Sum(s, "rivetkube_gateway_drain_move_step_seconds_count", "step", step)
		if n > 0 {
			line += fmt.Sprintf(" %s %.1f ms (%.0f)", step, 1000*sum/n, n)
		}
	}
	return append(out, line), nil
}

// movedCount reads the leader's count of actors moved (placement written).
func movedCount(ctx context.Context, addr string) (float64, error) {
	s, err := scrape.Fetch(ctx, "http://"+addr+"/metrics")
	if err != nil {
		return 0, fmt.Errorf("gateway metrics: %w", err)
	}
	n, _ := scrape.Sum(s, "rivetkube_gateway_drain_actors_moved_total")
	return n, nil
}
