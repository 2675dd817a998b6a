package boltstore

import (
	"context"
	"fmt"

	"github.com/rivetkube/rivetkube/internal/store"
)

// LoadActivation reads the row, the first queue page, the schedules and
// the state in one read transaction: one consistent view, and on Pebble
// one snapshot instead of four.
func (s *Store) LoadActivation(ctx context.Context, id string, queueLimit int) (store.Activation, error) {
	var out store.Activation
	err := s.view(ctx, func(tx Tx) error {
		out = store.Activation{}
		r, err := getRecord(tx, id)
		if err != nil {
			return err
		}
		if out.Actor, err = r.actor(); err != nil || out.Actor.Destroyed() {
			return err
		}
		if out.Queue, err = queueOf(tx, id, 0, nil, store.ListLimit(queueLimit)); err != nil {
			return fmt.Errorf("list queue: %w", err)
		}
		if out.Schedules, err = schedulesOf(tx, id); err != nil {
			return fmt.Errorf("list schedules: %w", err)
		}
		if out.Actor.Initialized {
			if v := tx.Bucket(bucketState).Get([]byte(id)); v != nil {
				out.State = append([]byte{}, v...)
			}
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("load activation: %w", err)
	}
	return out, nil
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
