package boltstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/rivetkube/rivetkube/internal/store"
)

// MovePlacements applies the moves in one bolt transaction (one fsync):
// each move is checked and applied on its own, and only a storage error
// fails (and rolls back) the whole batch.
func (s *Store) MovePlacements(ctx context.Context, moves []store.Move) ([]store.MoveResult, error) {
	verrs, err := store.ValidateMoves(moves)
	if err != nil {
		return nil, err
	}
	res := make([]store.MoveResult, len(moves))
	err = s.update(ctx, func(tx Tx) error {
		for i, m := range moves {
			res[i] = store.MoveResult{Err: verrs[i]}
			if verrs[i] != nil {
				continue
			}
			r, err := getRecord(tx, m.ID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				res[i].Err = fmt.Errorf("move placement: %w", err)
				continue
			case err != nil:
				return err
			case r.DestroyedAt != 0:
				res[i].Err = fmt.Errorf("move placement: actor %s: %w", m.ID, store.ErrDestroyed)
				continue
			case r.Generation != m.Gen || (r.RunnerID != "" && r.RunnerID != m.From):
				res[i].Err = fmt.Errorf("move placement: actor %s: expected generation %d on %q, current %d on %q: %w",
					m.ID, m.Gen, m.From, r.Generation, r.RunnerID, store.ErrFenced)
				continue
			}
			wasAsleep := r.RunnerID == ""
			if err := s.activate(tx, r, m.To); err != nil {
				return err
			}
			a, err := r.actor()
			if err != nil {
				return err
			}
			res[i] = store.MoveResult{Actor: a, WasAsleep: wasAsleep}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("move placements: %w", err)
	}
	return res, nil
}
