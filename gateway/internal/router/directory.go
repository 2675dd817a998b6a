package router

import (
	"context"

	"github.com/rivetkube/rivetkube/internal/store"
)

// Directory returns the actor directory the gateway edge resolves and
// creates actors with: the store's, except that GetOrCreateActor places a
// new actor in the statement that creates it and remembers the placement
// (see GetOrCreateActor).
func (rt *Router) Directory() store.Directory { return directory{Directory: rt.cfg.Store, rt: rt} }

type directory struct {
	store.Directory
	rt *Router
}

func (d directory) GetOrCreateActor(ctx context.Context, spec store.ActorSpec) (store.Actor, bool, error) {
	return d.rt.GetOrCreateActor(ctx, spec)
}
