package boltstore

import (
	"context"

	"github.com/rivetkube/rivetkube/internal/store"
)

// LoadActivation reads the row, the first queue page, the schedules and
// the state with the store's ordinary reads: they are local and cheap, so
// one snapshot is not worth a special read path here.
func (s *Store) LoadActivation(ctx context.Context, id string, queueLimit int) (store.Activation, error) {
	return store.ReadActivation(ctx, s, id, queueLimit)
}
