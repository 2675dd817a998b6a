package router

import "github.com/rivetkube/rivetkube/internal/store"

// actorsByVersion sums the actors placed on draining runners per version,
// for the drain-progress gauge; every draining version is present, with 0
// once it is empty.
func actorsByVersion(draining []uint64, sources []store.Runner) map[uint64]int {
	out := make(map[uint64]int, len(draining)+len(sources))
	for _, v := range draining {
		out[v] = 0
	}
	for _, r := range sources {
		out[r.Version] += r.Actors
	}
	return out
}
