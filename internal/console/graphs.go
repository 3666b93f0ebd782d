package console

import (
	"context"
	"sync"

	"github.com/nixbucket/nixbucket/internal/objects"
)

// graphs keeps the graphs of the buckets the console showed last, each
// under the objects.Version it was loaded at, so that the bucket and
// store path pages of a bucket that did not change read nothing: a page
// view read the whole narinfo index (up to MaxGraph paths), and the store
// path page one narinfo per path of the closure, each time, which anyone
// a public bucket lets in could repeat at will. A bucket's graph loads
// once at a time; the pages that ask meanwhile wait for it. A change to
// any object of the bucket, on any server, makes the next page load it
// again (see objects.Version); without a Version to go by (objects
// without its in-memory answers) every page loads its own.
type graphs struct {
	mu      sync.Mutex
	entries map[string]*graphEntry
	tick    uint64
}

// maxGraphBytes bounds what graphs keeps (a graph's cost): past it the
// least recently used graphs go.
const maxGraphBytes = 64 << 20

type graphEntry struct {
	load   sync.Mutex // held while loading
	ver    objects.Version
	loaded bool
	g      *graph // nil: over MaxGraph
	used   uint64 // graphs.tick at the last use
}

// bucketGraph returns the bucket's graph (nil when it holds over MaxGraph
// paths), from memory while the bucket has not changed.
func (h *Handler) bucketGraph(ctx context.Context, bucket string) (*graph, error) {
	if h.objects == nil {
		return h.loadGraph(ctx, bucket)
	}
	ver, ok := h.objects.BucketVersion(ctx, bucket)
	if !ok {
		return h.loadGraph(ctx, bucket)
	}
	e := h.graphs.entry(bucket)
	g, loaded, err := e.get(ver, func() (*graph, error) { return h.loadGraph(ctx, bucket) })
	if loaded {
		h.graphs.trim()
	}
	return g, err
}

// keptGraph returns the bucket's graph if one is kept and current, nil
// otherwise (it never loads one, nor waits for a load).
func (h *Handler) keptGraph(ctx context.Context, bucket string) *graph {
	if h.objects == nil {
		return nil
	}
	ver, ok := h.objects.BucketVersion(ctx, bucket)
	if !ok {
		return nil
	}
	h.graphs.mu.Lock()
	e := h.graphs.entries[bucket]
	h.graphs.mu.Unlock()
	if e == nil || !e.load.TryLock() {
		return nil
	}
	defer e.load.Unlock()
	if e.loaded && e.ver == ver {
		return e.g
	}
	return nil
}

// get returns the entry's graph if it was loaded at ver, or loads it.
func (e *graphEntry) get(ver objects.Version, load func() (*graph, error)) (g *graph, loaded bool, err error) {
	e.load.Lock()
	defer e.load.Unlock()
	if e.loaded && e.ver == ver {
		return e.g, false, nil
	}
	if g, err = load(); err != nil {
		return nil, false, err
	}
	e.g, e.ver, e.loaded = g, ver, true
	return g, true, nil
}

// entry returns the bucket's entry, made if new, and marks it used.
func (c *graphs) entry(bucket string) *graphEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*graphEntry{}
	}
	e := c.entries[bucket]
	if e == nil {
		e = &graphEntry{}
		c.entries[bucket] = e
	}
	c.tick++
	e.used = c.tick
	return e
}

// trim drops the least recently used entries while the graphs held cost
// more than maxGraphBytes. Entries being loaded are left alone.
func (c *graphs) trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		total, oldest := 0, ""
		for b, e := range c.entries {
			if !e.load.TryLock() {
				continue
			}
			if e.g != nil {
				total += e.g.cost
			}
			if oldest == "" || e.used < c.entries[oldest].used {
				oldest = b
			}
			e.load.Unlock()
		}
		if total <= maxGraphBytes || oldest == "" {
			return
		}
		delete(c.entries, oldest)
	}
}

// ForgetGone drops the graphs, stats and listings of the buckets exists
// reports gone (the server calls it with each refresh of its bucket
// list): a deleted bucket's graph would otherwise stay until others pushed
// it out, and its entry for good.
func (h *Handler) ForgetGone(exists func(bucket string) bool) {
	h.forgetStats(exists)
	h.forgetListings(exists)
	h.graphs.mu.Lock()
	defer h.graphs.mu.Unlock()
	for b := range h.graphs.entries {
		if !exists(b) {
			delete(h.graphs.entries, b)
		}
	}
}
