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

// PlaceActivation is Place then LoadActivation, two transactions: what
// comes between (a destroy, another placement) shows in the row read,
// which the caller checks as it would after Place.
func (s *Store) PlaceActivation(ctx context.Context, id, runnerID string, expectGen uint64, queueLimit int) (store.Activation, error) {
	if _, err := s.Place(ctx, id, runnerID, expectGen); err != nil {
		return store.Activation{}, err
	}
	return s.LoadActivation(ctx, id, queueLimit)
}
