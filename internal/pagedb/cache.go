package pagedb

import "container/list"

// lru is the bounded cache of clean pages (their stored content). It is
// not safe for concurrent use; file.mu guards it.
type lru struct {
	max   int
	order *list.List // front: most recently used; values are *entry
	pages map[uint32]*list.Element
}

type entry struct {
	no   uint32
	data []byte
}

func newLRU(max int) *lru {
	return &lru{max: max, order: list.New(), pages: make(map[uint32]*list.Element)}
}

func (c *lru) get(no uint32) ([]byte, bool) {
	el, ok := c.pages[no]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry).data, true
}

// put stores a clean page, evicting the least recently used beyond max.
func (c *lru) put(no uint32, data []byte) {
	if el, ok := c.pages[no]; ok {
		el.Value.(*entry).data = data
		c.order.MoveToFront(el)
		return
	}
	c.pages[no] = c.order.PushFront(&entry{no: no, data: data})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.pages, last.Value.(*entry).no)
	}
}

func (c *lru) remove(no uint32) {
	if el, ok := c.pages[no]; ok {
		c.order.Remove(el)
		delete(c.pages, no)
	}
}

// dropAbove removes every page numbered above n.
func (c *lru) dropAbove(n uint32) {
	for no := range c.pages {
		if no > n {
			c.remove(no)
		}
	}
}

func (c *lru) len() int { return c.order.Len() }
