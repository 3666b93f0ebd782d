// Package nixgraph is the reference graph of a bucket's store paths, and
// the pure planning on it that deleting paths needs: who refers to a set
// of paths, what only the set keeps, and an order of deletion that never
// leaves a served narinfo whose references are gone.
//
// Paths are named by their 32-character hash (the narinfo's key without
// ".narinfo"); references, as narinfos list them, by store path basename
// ("<hash>-<name>"). No I/O happens here, so plans are table-tested.
package nixgraph

import (
	"container/heap"
	"slices"
	"strings"
)

// HashLen is the length of a store path hash.
const HashLen = 32

// RefHash returns the hash of a reference: the first HashLen characters
// of a store path basename (or of a full store path's base).
func RefHash(ref string) string {
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		ref = ref[i+1:]
	}
	if len(ref) > HashLen {
		return ref[:HashLen]
	}
	return ref
}

// Set is a set of path hashes.
type Set map[string]struct{}

// NewSet returns a set holding hashes.
func NewSet(hashes ...string) Set {
	s := make(Set, len(hashes))
	for _, h := range hashes {
		s[h] = struct{}{}
	}
	return s
}

// Has reports whether h is in s.
func (s Set) Has(h string) bool { _, ok := s[h]; return ok }

// Add puts h in s.
func (s Set) Add(h string) { s[h] = struct{}{} }

// Sorted returns the hashes in s in order.
func (s Set) Sorted() []string {
	out := make([]string, 0, len(s))
	for h := range s {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// Graph holds which paths exist and what each refers to. Self-references
// are dropped; references to paths not in the graph are kept (they are
// what Missing reports). The zero value is not usable: call New.
//
// Hashes are interned: each distinct hash is one string and a uint32,
// and edges are uint32s both ways, so a million paths with ten
// references each take about 250 MB, and holding the graph keeps none
// of the records it was read from.
type Graph struct {
	ids       map[string]uint32
	names     []string   // by id
	added     []bool     // by id: the path itself is in the graph
	refs      [][]uint32 // by id: what it refers to
	referrers [][]uint32 // by id: who refers to it (added paths only)
	n         int        // paths added
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{ids: map[string]uint32{}}
}

// id returns hash's id, making one for a new hash.
func (g *Graph) id(hash string) uint32 {
	if i, ok := g.ids[hash]; ok {
		return i
	}
	h := strings.Clone(hash) // hash may be a slice of a larger string
	i := uint32(len(g.names))
	g.ids[h] = i
	g.names = append(g.names, h)
	g.added = append(g.added, false)
	g.refs = append(g.refs, nil)
	g.referrers = append(g.referrers, nil)
	return i
}

// Add records path hash with its references (store path basenames). A
// path added twice keeps the references of the last Add.
func (g *Graph) Add(hash string, refs []string) {
	i := g.id(hash)
	if g.added[i] {
		for _, r := range g.refs[i] {
			g.referrers[r] = slices.DeleteFunc(g.referrers[r], func(x uint32) bool { return x == i })
		}
	} else {
		g.added[i] = true
		g.n++
	}
	rs := make([]uint32, 0, len(refs))
	for _, ref := range refs {
		r := g.id(RefHash(ref))
		if r == i || slices.Contains(rs, r) {
			continue
		}
		rs = append(rs, r)
		g.referrers[r] = append(g.referrers[r], i)
	}
	g.refs[i] = rs
}

// lookup returns the id of a path in the graph.
func (g *Graph) lookup(hash string) (uint32, bool) {
	i, ok := g.ids[hash]
	return i, ok && g.added[i]
}

// Has reports whether the graph holds path hash.
func (g *Graph) Has(hash string) bool { _, ok := g.lookup(hash); return ok }

// Len is the number of paths.
func (g *Graph) Len() int { return g.n }

func (g *Graph) hashes(ids []uint32) []string {
	out := make([]string, len(ids))
	for k, i := range ids {
		out[k] = g.names[i]
	}
	return out
}

// References returns the hashes hash refers to (not itself).
func (g *Graph) References(hash string) []string {
	i, ok := g.lookup(hash)
	if !ok {
		return nil
	}
	return g.hashes(g.refs[i])
}

// Referrers returns the paths of the graph that refer to hash (not
// itself), in no particular order.
func (g *Graph) Referrers(hash string) []string {
	i, ok := g.ids[hash]
	if !ok {
		return nil
	}
	return g.hashes(g.referrers[i])
}

// Missing returns, for every path with references the graph lacks, those
// references' hashes, sorted.
func (g *Graph) Missing() map[string][]string {
	out := map[string][]string{}
	for i, rs := range g.refs {
		if !g.added[i] {
			continue
		}
		for _, r := range rs {
			if !g.added[r] {
				out[g.names[i]] = append(out[g.names[i]], g.names[r])
			}
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// members returns the ids of set's hashes that the graph holds, and a
// membership test over ids.
func (g *Graph) members(set Set) ([]uint32, map[uint32]bool) {
	ids := make([]uint32, 0, len(set))
	in := make(map[uint32]bool, len(set))
	for h := range set {
		if i, ok := g.lookup(h); ok {
			ids = append(ids, i)
			in[i] = true
		}
	}
	return ids, in
}

// withIDs returns set plus the hashes of ids.
func (g *Graph) withIDs(set Set, in map[uint32]bool) Set {
	out := make(Set, len(set)+len(in))
	for h := range set {
		out.Add(h)
	}
	for i := range in {
		out.Add(g.names[i])
	}
	return out
}

// WithReferrers returns set together with every path of the graph that
// refers to one of them, transitively: what has to go with set for every
// remaining path to keep its whole closure.
func (g *Graph) WithReferrers(set Set) Set {
	queue, in := g.members(set)
	for len(queue) > 0 {
		i := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, r := range g.referrers[i] {
			if !in[r] {
				in[r] = true
				queue = append(queue, r)
			}
		}
	}
	return g.withIDs(set, in)
}

// OutsideReferrers returns, for each path of set that a path of the graph
// outside set refers to, those referrers, sorted. Deleting set alone is
// safe only when it is empty.
func (g *Graph) OutsideReferrers(set Set) map[string][]string {
	ids, in := g.members(set)
	out := map[string][]string{}
	for _, i := range ids {
		for _, r := range g.referrers[i] {
			if !in[r] {
				out[g.names[i]] = append(out[g.names[i]], g.names[r])
			}
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// OnlyKept returns set together with the paths of the graph that only set
// keeps: references of set's paths that no path outside the result refers
// to, transitively. Deleting the result leaves no remaining path without
// its closure, provided set itself has no outside referrers. A path for
// which keep (if not nil) is true is never added, nor what it keeps: a
// path pushed within the grace may be the reference of a narinfo still
// on its way.
func (g *Graph) OnlyKept(set Set, keep func(hash string) bool) Set {
	queue, in := g.members(set)
	// A candidate goes once every one of its referrers goes; count the
	// referrers still kept.
	kept := map[uint32]int{}
	for len(queue) > 0 {
		i := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, r := range g.refs[i] {
			if in[r] || !g.added[r] || (keep != nil && keep(g.names[r])) {
				continue
			}
			n, seen := kept[r]
			if !seen {
				n = len(g.referrers[r])
			}
			n--
			kept[r] = n
			if n == 0 {
				in[r] = true
				queue = append(queue, r)
			}
		}
	}
	return g.withIDs(set, in)
}

// DeleteOrder returns set's paths in an order that deletes every path
// before the paths it refers to (referrers first), so that at every step
// each remaining narinfo still has its references. Ties are in hash
// order; a reference cycle (which Nix never makes) is broken in hash
// order rather than looping. Hashes of set the graph lacks come last.
func (g *Graph) DeleteOrder(set Set) []string {
	ids, in := g.members(set)
	// Kahn's algorithm on set's subgraph: a path is ready once none of
	// its referrers inside set is left.
	waiting := make(map[uint32]int, len(ids))
	ready := &hashHeap{}
	for _, i := range ids {
		n := 0
		for _, r := range g.referrers[i] {
			if in[r] {
				n++
			}
		}
		waiting[i] = n
		if n == 0 {
			heap.Push(ready, g.names[i])
		}
	}
	out := make([]string, 0, len(set))
	done := make(map[uint32]bool, len(ids))
	for len(done) < len(ids) {
		if ready.Len() == 0 { // a cycle: take the smallest hash left
			var least string
			for i := range waiting {
				if !done[i] && (least == "" || g.names[i] < least) {
					least = g.names[i]
				}
			}
			heap.Push(ready, least)
		}
		h := heap.Pop(ready).(string)
		i := g.ids[h]
		if done[i] {
			continue
		}
		done[i] = true
		out = append(out, h)
		for _, r := range g.refs[i] {
			if !in[r] || done[r] {
				continue
			}
			waiting[r]--
			if waiting[r] == 0 {
				heap.Push(ready, g.names[r])
			}
		}
	}
	var absent []string
	for h := range set {
		if !g.Has(h) {
			absent = append(absent, h)
		}
	}
	slices.Sort(absent)
	return append(out, absent...)
}

// hashHeap is a min-heap of hashes, for a deterministic order.
type hashHeap []string

func (h hashHeap) Len() int           { return len(h) }
func (h hashHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h hashHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hashHeap) Push(x any)        { *h = append(*h, x.(string)) }
func (h *hashHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
