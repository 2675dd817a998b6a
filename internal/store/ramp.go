package store

import (
	"fmt"
	"math"
)

// Ramp splits a pool between two versions during a progressive rollout:
// the version ramping in (Version, one of the pool's ready versions) and
// the newest other ready version with a live runner (the one it replaces).
type Ramp struct {
	// Version is the version ramping in.
	Version uint64
	// NewPercent of new placements (0-100) go to Version, the rest to the
	// version it replaces.
	NewPercent int32
	// MovePercent (0-100) is the share of the two versions' actors that
	// should be on Version: the drain moves actors to Version while it
	// holds less, and back to the replaced version while it holds more
	// (a rollback is a ramp at 0%).
	MovePercent int32
}

// validateRamp checks a pool config's ramp (nil is valid).
func validateRamp(pool string, r *Ramp) error {
	if r == nil {
		return nil
	}
	if r.Version < 1 || r.Version > math.MaxInt64 {
		return fmt.Errorf("set pool config %s: ramp version %d out of range: %w", pool, r.Version, ErrInvalid)
	}
	if r.NewPercent < 0 || r.NewPercent > 100 || r.MovePercent < 0 || r.MovePercent > 100 {
		return fmt.Errorf("set pool config %s: ramp percentages %d/%d not within 0-100: %w", pool, r.NewPercent, r.MovePercent, ErrInvalid)
	}
	return nil
}
