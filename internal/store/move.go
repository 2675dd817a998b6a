package store

import (
	"context"
	"fmt"
)

// MaxMoveBatch is the most moves one MovePlacements call takes.
const MaxMoveBatch = 1000

// Move is one placement change of MovePlacements: the drain's re-routing
// of an actor from one runner to another.
type Move struct {
	ID string
	// From is the runner the mover found the actor placed on, and Gen the
	// generation it had there. The move applies only while the actor is
	// still at Gen and placed on From or on no runner (it went to sleep
	// there, for instance because the mover stopped it).
	From string
	Gen  uint64
	// To is the runner the actor is placed on.
	To string
}

// MoveResult is the outcome of one Move.
type MoveResult struct {
	// Actor is the row after the move (Err nil).
	Actor Actor
	// WasAsleep reports that the actor had no placement before the move:
	// it had gone to sleep (stopped by the mover). False means it was still
	// placed on From and never woken there, so the mover need not wake it.
	WasAsleep bool
	// Err is ErrFenced when the generation moved or the actor is placed on
	// another runner, ErrDestroyed, ErrNotFound, or ErrInvalid for an
	// empty ID or To or an ID that appears twice in the batch.
	Err error
}

// Mover re-places many actors in one write (the drain's batch).
type Mover interface {
	// MovePlacements applies each move atomically and independently, in
	// one durable batch: a move that applies sets RunnerID = To and
	// Generation = Gen+1 (StartedAt now, SleepAt cleared), as Place does,
	// so the new generation fences anything an old instance might still
	// write. res[i] is the outcome of moves[i]. err is non-nil only when
	// the whole batch failed (then nothing applied), or for more than
	// MaxMoveBatch moves (ErrInvalid).
	MovePlacements(ctx context.Context, moves []Move) (res []MoveResult, err error)
}

// ValidateMoves checks a MovePlacements batch. It returns the error of the
// whole batch and the per-move errors (nil entries for valid moves): an
// empty ID or To, or an ID seen earlier in the batch.
func ValidateMoves(moves []Move) ([]error, error) {
	if len(moves) > MaxMoveBatch {
		return nil, fmt.Errorf("move placements: %d moves, at most %d: %w", len(moves), MaxMoveBatch, ErrInvalid)
	}
	out := make([]error, len(moves))
	seen := make(map[string]bool, len(moves))
	for i, m := range moves {
		switch {
		case m.ID == "":
			out[i] = fmt.Errorf("move placement: actor id is empty: %w", ErrInvalid)
		case m.To == "":
			out[i] = fmt.Errorf("move actor %s: runner id is empty: %w", m.ID, ErrInvalid)
		case seen[m.ID]:
			out[i] = fmt.Errorf("move actor %s: twice in one batch: %w", m.ID, ErrInvalid)
		}
		seen[m.ID] = true
	}
	return out, nil
}
