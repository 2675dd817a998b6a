package store

import "context"

// RunnerRows lists the runner registry without counting actors.
type RunnerRows interface {
	// ListRunnerRows is ListRunners without Actors (left 0): the registry's
	// rows only, ordered by ID, with SinceHeartbeat filled. Counting the
	// actors placed on each runner reads every placed actor's index entry
	// (and, while placements change, its row): 150 ms at 100,000 actors on
	// a loaded machine. Callers that refresh often count only now and then.
	ListRunnerRows(ctx context.Context, pool string) ([]Runner, error)
}
