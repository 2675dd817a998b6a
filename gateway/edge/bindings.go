package edge

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/rivetkube/rivetkube/internal/hostapi"
	"github.com/rivetkube/rivetkube/internal/store"
)

// bindingCache remembers resolved actors: (namespace, name, key) → actor
// and actor ID → actor, so a request for a known actor reaches the Host
// without reading the store.
//
// A key's binding to an actor ID cannot change while that actor lives; it
// ends only when the actor is destroyed, which the cache does not see when
// another gateway or the actor itself does it. So an entry is used
// optimistically: the Host refuses a request for a destroyed actor before
// any actor code runs it, with an error marked hostapi.ErrGone; the
// gateway then drops the entry, resolves the request from the store again
// (a getOrCreate creates the new actor) and, when that names another
// actor, sends the request there (Server.onActor). A request never reaches
// a different actor than the store's binding at the time it is served.
type bindingCache struct {
	max int // <0: disabled
	mu  sync.Mutex
	// Both maps point to one copy of each actor (its strings copied out of
	// the request that resolved it, which they would otherwise keep).
	byKey map[string]*store.Actor
	byID  map[string]*store.Actor
}

func newBindingCache(max int) *bindingCache {
	return &bindingCache{max: max, byKey: map[string]*store.Actor{}, byID: map[string]*store.Actor{}}
}

// bindingKey is unambiguous: lengths prefix namespace and name, and
// store.EncodeKey is itself unambiguous.
func bindingKey(ns, name string, key []string) string {
	enc := store.EncodeKey(key)
	b := make([]byte, 0, len(ns)+len(name)+len(enc)+8)
	b = strconv.AppendInt(b, int64(len(ns)), 10)
	b = append(b, ':')
	b = append(b, ns...)
	b = strconv.AppendInt(b, int64(len(name)), 10)
	b = append(b, ':')
	b = append(b, name...)
	b = append(b, enc...)
	return string(b)
}

func (c *bindingCache) byKeyGet(k string) (store.Actor, bool) {
	if c.max < 0 {
		return store.Actor{}, false
	}
	c.mu.Lock()
	a, ok := c.byKey[k]
	c.mu.Unlock()
	if !ok {
		return store.Actor{}, false
	}
	return *a, true
}

func (c *bindingCache) byIDGet(id string) (store.Actor, bool) {
	if c.max < 0 {
		return store.Actor{}, false
	}
	c.mu.Lock()
	a, ok := c.byID[id]
	c.mu.Unlock()
	if !ok {
		return store.Actor{}, false
	}
	return *a, true
}

// put remembers a live actor as read from the store.
func (c *bindingCache) put(a store.Actor) {
	if c.max < 0 || a.Destroyed() {
		return
	}
	a.Input = nil // up to MaxInputSize each; requests never need it
	a.ID, a.Namespace, a.Name, a.Pool = strings.Clone(a.ID), strings.Clone(a.Namespace), strings.Clone(a.Name), strings.Clone(a.Pool)
	a.CrashPolicy, a.RunnerID = strings.Clone(a.CrashPolicy), strings.Clone(a.RunnerID)
	key := make([]string, len(a.Key))
	for i, p := range a.Key {
		key[i] = strings.Clone(p)
	}
	a.Key = key
	k := bindingKey(a.Namespace, a.Name, a.Key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byKey[k]; ok && old.ID != a.ID {
		delete(c.byID, old.ID)
	}
	for len(c.byID) >= c.max {
		// Full: drop an arbitrary actor (map order); it costs one store read
		// on its next request.
		for id, old := range c.byID {
			c.dropLocked(id, old)
			break
		}
	}
	c.byKey[k] = &a
	c.byID[a.ID] = &a
}

// forget drops the actor id's entries.
func (c *bindingCache) forget(id string) {
	c.mu.Lock()
	if a, ok := c.byID[id]; ok {
		c.dropLocked(id, a)
	}
	c.mu.Unlock()
}

func (c *bindingCache) dropLocked(id string, a *store.Actor) {
	delete(c.byID, id)
	k := bindingKey(a.Namespace, a.Name, a.Key)
	if cur, ok := c.byKey[k]; ok && cur.ID == id {
		delete(c.byKey, k)
	}
}

// onActor runs call against the resolved actor t. When call finds the
// actor gone (hostapi.ErrGone: destroyed, nothing ran) the cached binding
// is dropped; if t came from the cache, the request is resolved from the
// store again and, when that names another live actor (a getOrCreate may
// create it), call runs once more against it and *t becomes that actor.
func (s *Server) onActor(ctx context.Context, r *http.Request, t *target, call func(t target) error) error {
	err := call(*t)
	if err == nil || !errors.Is(err, hostapi.ErrGone) {
		return err
	}
	s.bindings.forget(t.actor.ID)
	if !t.cached {
		return err
	}
	nt, rerr := s.resolveWith(ctx, r, false)
	if rerr != nil {
		return rerr
	}
	if nt.actor.ID == t.actor.ID {
		return err
	}
	*t = nt
	err = call(nt)
	if errors.Is(err, hostapi.ErrGone) {
		s.bindings.forget(nt.actor.ID)
	}
	return err
}
