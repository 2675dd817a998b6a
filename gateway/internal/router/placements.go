package router

import "sync"

// placement is where an actor was last known to live: a runner and the
// generation it was placed with.
type placement struct {
	runner string
	gen    uint64
	// ended: the runner said the instance of gen ended there for good (it
	// slept, its placement cleared; see Router.Ended).
	ended bool
}

// placementCache remembers the placements the router read or made, so a
// request for an awake actor goes to its runner without reading the store.
// An entry is only a hint: the runner checks the generation of every
// request against its live instance (or, for a new instance, against the
// store's row) and refuses a stale one, and the router forgets the entry
// then (see Router.routeOnce).
type placementCache struct {
	max int // <0: disabled
	mu  sync.Mutex
	m   map[string]placement
}

func (c *placementCache) get(id string) (placement, bool) {
	if c.max < 0 {
		return placement{}, false
	}
	c.mu.Lock()
	p, ok := c.m[id]
	c.mu.Unlock()
	return p, ok
}

// put records p unless a newer generation is already known.
func (c *placementCache) put(id string, p placement) {
	if c.max < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[id]; ok {
		if old.gen > p.gen {
			return
		}
	} else if len(c.m) >= c.max {
		// Full: drop an arbitrary entry (map order); a dropped entry costs one
		// store read on the actor's next request.
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[id] = p
}

// forget drops id's entry if it is still p (a newer one stays).
func (c *placementCache) forget(id string, p placement) {
	c.mu.Lock()
	if c.m[id] == p {
		delete(c.m, id)
	}
	c.mu.Unlock()
}

// ended marks id's entry as ended if it is still p (see placement.ended).
func (c *placementCache) ended(id string, p placement) {
	c.mu.Lock()
	if c.m[id] == p {
		p.ended = true
		c.m[id] = p
	}
	c.mu.Unlock()
}

// forgetAll drops id's entry whatever it holds.
func (c *placementCache) forgetAll(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

func (c *placementCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
