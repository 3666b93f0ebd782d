// Package gencache is the one cache of metadata-store answers that every
// in-memory cache uses: the access cache (keys, users, policies, tokens),
// the binary-cache settings and the objects memo.
//
// Entries are valid while the generation they were read under has not
// moved. The generation is the store's change announcement
// (meta.Announcer) or a counter of the caller's own, and it only moves
// forward. Every use follows one pattern:
//
//	gen := <read the generation>           // before loading
//	v, t, ok := c.Get(gen, k)
//	if !ok {
//		v = <load k from the store>
//		c.Put(t, k, v)                      // refused if gen moved meanwhile
//	}
//
// Because the generation is read before the load and moves only after a
// change committed, a load that may predate a change is never stored under
// a generation at or after it: Put refuses the ticket of a Get whose
// generation is no longer the cache's, and a caller preempted since reading
// an older generation can neither move the cache back nor fill it.
package gencache

import "sync"

// Cache is a bounded map of answers, each valid while the generation it
// was read under has not moved. The zero value is an empty cache without a
// bound; set the fields before first use.
type Cache[K comparable, V any] struct {
	// MaxCost bounds the sum of the entries' costs: a Put past it empties
	// the cache, to be refilled by use. Zero or less: no bound.
	MaxCost int
	// Cost is an entry's cost; nil counts one per entry.
	Cost func(K, V) int

	mu      sync.RWMutex
	gen     uint64 // the generation the entries were read under
	changes uint64 // Forget and Clear calls: refuse the loads begun before
	entries map[K]V
	cost    int
}

// Ticket is what Get knew when the caller's load began; Put checks it.
type Ticket struct {
	gen, changes uint64
}

// Get returns k's entry if the cache is at generation gen, and a ticket
// for Put after a load. A gen newer than the cache's empties the cache and
// moves it to gen; an older one finds nothing, and Put refuses its ticket.
func (c *Cache[K, V]) Get(gen uint64, k K) (v V, t Ticket, ok bool) {
	c.mu.RLock()
	if c.gen == gen {
		v, ok = c.entries[k]
		t = Ticket{gen, c.changes}
		c.mu.RUnlock()
		return v, t, ok
	}
	c.mu.RUnlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen < gen { // never back: an older gen is a caller preempted since
		c.gen, c.entries, c.cost = gen, nil, 0
	}
	t = Ticket{gen, c.changes}
	if c.gen == gen {
		v, ok = c.entries[k]
	}
	return v, t, ok
}

// Put stores v under k unless the generation moved, or Forget or Clear
// was called, since the Get that gave t.
func (c *Cache[K, V]) Put(t Ticket, k K, v V) {
	cost := 1
	if c.Cost != nil {
		cost = c.Cost(k, v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != t.gen || c.changes != t.changes {
		return
	}
	if c.entries == nil || c.MaxCost > 0 && c.cost+cost > c.MaxCost {
		c.entries, c.cost = make(map[K]V), 0
	}
	c.entries[k] = v
	c.cost += cost
}

// Forget drops k's entry and refuses the Put of every load begun before:
// for a change that this process made itself (and that its generation
// does not announce), called once the change committed.
func (c *Cache[K, V]) Forget(k K) {
	c.mu.Lock()
	c.changes++
	if e, ok := c.entries[k]; ok {
		if c.Cost != nil {
			c.cost -= c.Cost(k, e)
		} else {
			c.cost--
		}
		delete(c.entries, k)
	}
	c.mu.Unlock()
}

// Clear drops every entry and refuses the Put of every load begun before.
func (c *Cache[K, V]) Clear() {
	c.mu.Lock()
	c.changes++
	c.entries, c.cost = nil, 0
	c.mu.Unlock()
}
