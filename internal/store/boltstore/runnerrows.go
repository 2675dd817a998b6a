package boltstore

import (
	"context"

	"github.com/rivetkube/rivetkube/internal/store"
)

// ListRunnerRows is ListRunners with Actors left 0. The embedded store
// reads the same records either way; the count is dropped so both stores
// answer alike.
func (s *Store) ListRunnerRows(ctx context.Context, pool string) ([]store.Runner, error) {
	out, err := s.ListRunners(ctx, pool)
	for i := range out {
		out[i].Actors = 0
	}
	return out, err
}
