package gc

import (
	"container/heap"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// policy is what the plan needs to decide: the bucket's retention at a
// moment, the pinned paths, and the bytes the bucket holds.
type policy struct {
	now    time.Time
	ret    meta.Retention
	pinned []int32 // ids of pinned paths
	// total is what the bucket's narinfos, NARs, listings, logs, debuginfo
	// entries and realisations hold;
	// orphan the part of it the sweep removes whatever is kept (objects no
	// narinfo refers to, older than the grace period).
	total, orphan int64
}

// plan marks the kept paths: the closure of the roots, where roots are the
// pinned paths, the paths pushed or read within the grace period (a push
// in flight asks for the paths it will refer to), and the paths
// pushed or fetched within keep-days (every path when keep-days is unset);
// then, while the bucket would stay over max-size, it evicts the least
// recently used root that no kept path references, with the paths kept
// only through it. It returns the bytes the bucket would hold afterwards.
func (g *graph) plan(p policy) int64 {
	graceCut := p.now.Add(-p.ret.Grace).UnixNano()
	keepCut := p.now.AddDate(0, 0, -p.ret.KeepDays).UnixNano()
	for id := range int32(g.len()) {
		if !g.is(id, fPresent) {
			continue
		}
		switch {
		case g.lastUse[id] > graceCut: // pushed, or asked for by a push, just now
			g.flags[id] |= fRoot
		case p.ret.KeepDays > 0:
			if g.lastUse[id] > keepCut {
				g.flags[id] |= fEvictable
			}
		case p.ret.MaxSize > 0:
			g.flags[id] |= fEvictable
		default: // no limit set: nothing is stale
			g.flags[id] |= fRoot
		}
	}
	for _, id := range p.pinned {
		if g.is(id, fPresent) {
			g.flags[id] |= fRoot
		}
	}
	var stack []int32
	for id := range int32(g.len()) {
		if g.is(id, fRoot|fEvictable) {
			stack = g.mark(id, stack)
		}
	}
	projected := p.total - p.orphan
	for id := range int32(g.len()) {
		if g.is(id, fPresent) && !g.is(id, fKept) {
			projected -= g.size[id]
		}
	}
	if p.ret.MaxSize > 0 && projected > p.ret.MaxSize {
		projected = g.evict(projected, p.ret.MaxSize)
	}
	return projected
}

// mark keeps id's closure; stack is scratch space, returned for reuse.
func (g *graph) mark(id int32, stack []int32) []int32 {
	if g.is(id, fKept) || !g.is(id, fPresent) {
		return stack
	}
	g.flags[id] |= fKept
	stack = append(stack[:0], id)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, r := range g.refsOf(n) {
			if g.is(r, fPresent) && !g.is(r, fKept) {
				g.flags[r] |= fKept
				stack = append(stack, r)
			}
		}
	}
	return stack
}

// evict removes least recently used top-level roots (kept paths no kept
// path references) until the bucket is at most max bytes, by reference
// counting within the kept set: a path whose last kept referrer went goes
// too unless it is a root itself, when it becomes a candidate. Pinned and
// young paths are never evicted, nor anything they keep.
func (g *graph) evict(projected, max int64) int64 {
	indeg := make([]int32, g.len())
	for id := range int32(g.len()) {
		if g.is(id, fKept) {
			for _, r := range g.refsOf(id) {
				if g.is(r, fKept) {
					indeg[r]++
				}
			}
		}
	}
	h := &lru{g: g}
	for id := range int32(g.len()) {
		if g.is(id, fKept) && indeg[id] == 0 && g.evictable(id) {
			h.ids = append(h.ids, id)
		}
	}
	heap.Init(h)
	var stack []int32
	for projected > max && h.Len() > 0 {
		root := heap.Pop(h).(int32)
		stack = append(stack[:0], root)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			g.flags[n] = g.flags[n]&^fKept | fOverSize
			projected -= g.size[n]
			for _, r := range g.refsOf(n) {
				if !g.is(r, fKept) {
					continue
				}
				if indeg[r]--; indeg[r] > 0 {
					continue
				}
				switch {
				case g.evictable(r):
					heap.Push(h, r)
				case !g.is(r, fRoot):
					stack = append(stack, r) // kept only through n
				}
			}
		}
	}
	return projected
}

// evictable reports whether max-size may evict id: a root kept by
// retention alone.
func (g *graph) evictable(id int32) bool {
	return g.flags[id]&(fEvictable|fRoot) == fEvictable
}

// lru orders candidate roots by last use, oldest first.
type lru struct {
	g   *graph
	ids []int32
}

func (h *lru) Len() int { return len(h.ids) }
func (h *lru) Less(i, j int) bool {
	a, b := h.ids[i], h.ids[j]
	if h.g.lastUse[a] != h.g.lastUse[b] {
		return h.g.lastUse[a] < h.g.lastUse[b]
	}
	return a < b
}
func (h *lru) Swap(i, j int) { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *lru) Push(x any)    { h.ids = append(h.ids, x.(int32)) }
func (h *lru) Pop() any {
	x := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	return x
}

// deletionOrder returns the present, unkept paths in levels: no path of a
// level references another of the same level, and every path comes after
// all of its unkept referrers. Deleting level by level, each level whole
// before the next, never serves a narinfo whose reference is gone.
func (g *graph) deletionOrder() (order []int32, levels []int) {
	indeg := make([]int32, g.len())
	gone := func(id int32) bool { return g.is(id, fPresent) && !g.is(id, fKept) }
	for id := range int32(g.len()) {
		if gone(id) {
			for _, r := range g.refsOf(id) {
				if gone(r) {
					indeg[r]++
				}
			}
		}
	}
	for id := range int32(g.len()) {
		if gone(id) && indeg[id] == 0 {
			order = append(order, id)
		}
	}
	start := 0
	for start < len(order) {
		end := len(order)
		levels = append(levels, end)
		for _, id := range order[start:end] {
			for _, r := range g.refsOf(id) {
				if gone(r) {
					if indeg[r]--; indeg[r] == 0 {
						order = append(order, r)
					}
				}
			}
		}
		start = end
	}
	return order, levels
}
