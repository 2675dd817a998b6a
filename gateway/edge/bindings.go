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
	// Both maps point to one binding per actor, keyed by its own strings.
	byKey map[string]*binding
	byID  map[string]*binding
}

// binding is a cached actor: only what a request uses (id, namespace,
// name, key, generation as read), its strings copied out of the request
// that resolved it (which they would otherwise keep). There is one per
// awake actor, so it is kept small: namespace and name are substrings of
// the binding key.
type binding struct {
	id       string
	bk       string // bindingKey(ns, name, key)
	ns, name string // in bk
	key      []string
	gen      uint64
}

func (b *binding) actor() store.Actor {
	return store.Actor{ID: b.id, Namespace: b.ns, Name: b.name, Key: b.key, Generation: b.gen}
}

func newBindingCache(max int) *bindingCache {
	return &bindingCache{max: max, byKey: map[string]*binding{}, byID: map[string]*binding{}}
}

// bindingKey is unambiguous: lengths prefix namespace and name, and
// store.EncodeKey is itself unambiguous.
func bindingKey(ns, name string, key []string) string {
	k, _, _ := bindingKeyAt(ns, name, key)
	return k
}

// bindingKeyAt is bindingKey, with where namespace and name start in it.
func bindingKeyAt(ns, name string, key []string) (k string, nsAt, nameAt int) {
	enc := store.EncodeKey(key)
	b := make([]byte, 0, len(ns)+len(name)+len(enc)+8)
	b = strconv.AppendInt(b, int64(len(ns)), 10)
	b = append(b, ':')
	nsAt = len(b)
	b = append(b, ns...)
	b = strconv.AppendInt(b, int64(len(name)), 10)
	b = append(b, ':')
	nameAt = len(b)
	b = append(b, name...)
	b = append(b, enc...)
	return string(b), nsAt, nameAt
}

func (c *bindingCache) byKeyGet(k string) (store.Actor, bool) {
	if c.max < 0 {
		return store.Actor{}, false
	}
	c.mu.Lock()
	b, ok := c.byKey[k]
	c.mu.Unlock()
	if !ok {
		return store.Actor{}, false
	}
	return b.actor(), true
}

func (c *bindingCache) byIDGet(id string) (store.Actor, bool) {
	if c.max < 0 {
		return store.Actor{}, false
	}
	c.mu.Lock()
	b, ok := c.byID[id]
	c.mu.Unlock()
	if !ok {
		return store.Actor{}, false
	}
	return b.actor(), true
}

// put remembers a live actor as read from the store.
func (c *bindingCache) put(a store.Actor) {
	if c.max < 0 || a.Destroyed() {
		return
	}
	key := make([]string, len(a.Key))
	for i, p := range a.Key {
		key[i] = strings.Clone(p)
	}
	k, nsAt, nameAt := bindingKeyAt(a.Namespace, a.Name, key)
	b := &binding{
		id: strings.Clone(a.ID), bk: k, key: key, gen: a.Generation,
		ns: k[nsAt : nsAt+len(a.Namespace)], name: k[nameAt : nameAt+len(a.Name)],
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byKey[k]; ok && old.id != b.id {
		delete(c.byID, old.id)
	}
	for len(c.byID) >= c.max {
		// Full: drop an arbitrary actor (map order); it costs one store read
		// on its next request.
		for id, old := range c.byID {
			c.dropLocked(id, old)
			break
		}
	}
	c.byKey[b.bk] = b
	c.byID[b.id] = b
}

// forget drops the actor id's entries.
func (c *bindingCache) forget(id string) {
	c.mu.Lock()
	if b, ok := c.byID[id]; ok {
		c.dropLocked(id, b)
	}
	c.mu.Unlock()
}

func (c *bindingCache) dropLocked(id string, b *binding) {
	delete(c.byID, id)
	if cur, ok := c.byKey[b.bk]; ok && cur.id == id {
		delete(c.byKey, b.bk)
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
