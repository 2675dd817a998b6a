package router

import (
	"math/rand/v2"
	"slices"

	"github.com/rivetkube/rivetkube/internal/admin"
	"github.com/rivetkube/rivetkube/internal/errs"
	"github.com/rivetkube/rivetkube/internal/store"
)

// A ramp (store.PoolConfig.Ramp) splits a pool between the version
// ramping in and the version it replaces, the newest other placeable
// version:
//   - new placements go to the ramp version with probability NewPercent;
//   - the drain moves actors between the two until the ramp version holds
//     MovePercent of their actors (rampWork), in either direction, so a
//     ramp at 0% moves every actor back (a rollback).
// Without a placeable runner of one side, everything goes to the other.

// rampChoice returns the version a new placement goes to among live
// (placeable runners by version), newest being the newest of them.
func rampChoice(r *store.Ramp, live map[uint64][]store.Runner, newest uint64) uint64 {
	if r == nil || len(live[r.Version]) == 0 {
		return newest
	}
	other, ok := rampOther(r, live)
	if !ok {
		return r.Version
	}
	if rand.IntN(100) < int(r.NewPercent) {
		return r.Version
	}
	return other
}

// rampOther is the version the ramp replaces: the newest placeable
// version other than the ramp's.
func rampOther(r *store.Ramp, live map[uint64][]store.Runner) (uint64, bool) {
	var other uint64
	for ver, rs := range live {
		if ver != r.Version && len(rs) > 0 {
			other = max(other, ver)
		}
	}
	return other, other != 0
}

// rampMoves says which actors the ramp wants moved now: up to n actors
// from the live runners of version from to version to. n is 0 when the
// split is where the ramp asks (or no ramp applies).
func (rt *Router) rampMoves(v *registryView, pc store.PoolConfig, pool string) (from, to uint64, n int) {
	r := pc.Ramp
	if r == nil {
		return 0, 0, 0
	}
	live := rt.placeable(v, pc, pool)
	other, ok := rampOther(r, live)
	if !ok || len(live[r.Version]) == 0 {
		return 0, 0, 0
	}
	var onRamp, onOther int
	for _, rr := range v.byPool[pool] {
		if !v.alive(rr, rt.cfg.Lease) {
			continue
		}
		switch rr.Version {
		case r.Version:
			onRamp += rr.Actors
		case other:
			onOther += rr.Actors
		}
	}
	// The ramp version should hold want actors, rounded up so a ramp at
	// any share above 0 moves at least one actor.
	total := onRamp + onOther
	want := (total*int(r.MovePercent) + 99) / 100
	switch {
	case onRamp < want:
		return other, r.Version, want - onRamp
	case onRamp > want:
		return r.Version, other, onRamp - want
	}
	return 0, 0, 0
}

// validRamp checks a routing's ramp for the admin API.
func validRamp(pc store.PoolConfig) error {
	r := pc.Ramp
	if r == nil {
		return nil
	}
	if !slices.Contains(pc.Ready, r.Version) {
		return errs.InvalidRequest("ramp version %d must be one of the ready versions", r.Version)
	}
	if len(pc.Ready) < 2 {
		return errs.InvalidRequest("a ramp needs a second ready version to split with")
	}
	if r.NewPercent < 0 || r.NewPercent > 100 || r.MovePercent < 0 || r.MovePercent > 100 {
		return errs.InvalidRequest("ramp newPercent and movePercent must be within 0-100")
	}
	return nil
}

// wireRamp is r as the admin API reports it.
func wireRamp(r *store.Ramp) *admin.Ramp {
	if r == nil {
		return nil
	}
	return &admin.Ramp{Version: r.Version, NewPercent: r.NewPercent, MovePercent: r.MovePercent}
}
