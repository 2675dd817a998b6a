package store

import (
	"fmt"
	"slices"
	"time"
)

// PoolActivity is what the engine remembers of a pool while it may have no
// runner at all (a pool scaled to zero): the actor names its runners
// define, so the gateway still knows them, and the last demand, the last
// time a request or due work found no live runner to host one of its
// actors, which the operator turns into a scale-up.
type PoolActivity struct {
	Pool string
	// Names are the actor names, sorted and unique (nil when none).
	Names []string
	// DemandAt is the last demand by the store's clock (zero: never).
	DemandAt time.Time
	// SinceDemand is the store's clock minus DemandAt, measured by the
	// store (as Runner.SinceHeartbeat), so process clock skew cannot move
	// it; 0 when DemandAt is zero.
	SinceDemand time.Duration
}

// Limits of PoolActivity.
const (
	// MaxPoolNameSize bounds a pool's name.
	MaxPoolNameSize = 256
	// MaxPoolNames bounds how many actor names one pool remembers.
	MaxPoolNames = 4096
	// MaxActorNameSize bounds one remembered actor name.
	MaxActorNameSize = 1024
)

// ValidatePoolName checks the pool argument of NotePoolDemand and
// SetPoolNames.
func ValidatePoolName(what, pool string) error {
	if pool == "" || len(pool) > MaxPoolNameSize {
		return fmt.Errorf("%s: pool name of %d bytes must be 1 to %d: %w", what, len(pool), MaxPoolNameSize, ErrInvalid)
	}
	return nil
}

// NormalizePoolNames validates names for SetPoolNames and returns them
// sorted and unique.
func NormalizePoolNames(pool string, names []string) ([]string, error) {
	if err := ValidatePoolName("set pool names", pool); err != nil {
		return nil, err
	}
	if len(names) > MaxPoolNames {
		return nil, fmt.Errorf("set pool names %s: %d names exceed %d: %w", pool, len(names), MaxPoolNames, ErrInvalid)
	}
	for _, n := range names {
		if len(n) > MaxActorNameSize {
			return nil, fmt.Errorf("set pool names %s: a name of %d bytes exceeds %d: %w", pool, len(n), MaxActorNameSize, ErrInvalid)
		}
	}
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out), nil
}
