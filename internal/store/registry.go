package store

import (
	"fmt"
	"math"
	"time"
)

// runnerNotFound is the error of a runner missing from the registry. It
// matches ErrNotFound with errors.Is without repeating ErrNotFound's
// actor-flavoured text.
type runnerNotFound struct{ id string }

func (e runnerNotFound) Error() string        { return "runner " + e.id + " not found" }
func (e runnerNotFound) Is(target error) bool { return target == ErrNotFound }

// RunnerNotFound is the error of an operation on runner id when the
// registry has no such runner; it matches ErrNotFound.
func RunnerNotFound(id string) error { return runnerNotFound{id: id} }

// ValidateRunner checks a Runner before UpsertRunner stores it.
func ValidateRunner(r Runner) error {
	switch {
	case r.ID == "":
		return fmt.Errorf("upsert runner: id is empty: %w", ErrInvalid)
	case r.Pool == "":
		return fmt.Errorf("upsert runner %s: pool is empty: %w", r.ID, ErrInvalid)
	case r.Version < 1 || r.Version > math.MaxInt64:
		return fmt.Errorf("upsert runner %s: version %d out of range: %w", r.ID, r.Version, ErrInvalid)
	}
	return nil
}

// ValidatePoolConfig checks a PoolConfig before SetPoolConfig stores it.
func ValidatePoolConfig(c PoolConfig) error {
	if c.Pool == "" {
		return fmt.Errorf("set pool config: pool is empty: %w", ErrInvalid)
	}
	if math.IsNaN(c.DrainRate) || math.IsInf(c.DrainRate, 0) || c.DrainRate < 0 {
		return fmt.Errorf("set pool config %s: drain rate %v: %w", c.Pool, c.DrainRate, ErrInvalid)
	}
	if err := validateRamp(c.Pool, c.Ramp); err != nil {
		return err
	}
	for _, vs := range [][]uint64{c.Ready, c.Draining} {
		for _, v := range vs {
			if v < 1 || v > math.MaxInt64 {
				return fmt.Errorf("set pool config %s: version %d out of range: %w", c.Pool, v, ErrInvalid)
			}
		}
	}
	return nil
}

// ValidateLease checks the name and holder of TryLease and ReleaseLease.
func ValidateLease(name, holder string) error {
	switch {
	case name == "":
		return fmt.Errorf("lease: name is empty: %w", ErrInvalid)
	case holder == "":
		return fmt.Errorf("lease %s: holder is empty: %w", name, ErrInvalid)
	}
	return nil
}

// MaxLeaseTTL is the longest ttl TryLease accepts; it keeps expiry times
// within the range of every store's timestamps.
const MaxLeaseTTL = 366 * 24 * time.Hour

// ValidateLeaseTTL checks the ttl of TryLease: 0 < ttl <= MaxLeaseTTL.
func ValidateLeaseTTL(name string, ttl time.Duration) error {
	if ttl <= 0 || ttl > MaxLeaseTTL {
		return fmt.Errorf("lease %s: ttl %v not in (0, %v]: %w", name, ttl, MaxLeaseTTL, ErrInvalid)
	}
	return nil
}

// ValidatePlace checks the arguments of Place.
func ValidatePlace(id, runnerID string) error {
	switch {
	case id == "":
		return fmt.Errorf("place: actor id is empty: %w", ErrInvalid)
	case runnerID == "":
		return fmt.Errorf("place actor %s: runner id is empty: %w", id, ErrInvalid)
	}
	return nil
}
