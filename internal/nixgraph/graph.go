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
type Graph struct {
	refs      map[string][]string // hash → hashes it refers to
	referrers map[string][]string // hash → hashes referring to it
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{refs: map[string][]string{}, referrers: map[string][]string{}}
}

// Add records path hash with its references (store path basenames). A
// path added twice keeps the references of the last Add.
func (g *Graph) Add(hash string, refs []string) {
	if old, ok := g.refs[hash]; ok {
		for _, r := range old {
			g.referrers[r] = slices.DeleteFunc(g.referrers[r], func(x string) bool { return x == hash })
		}
	}
	hs := make([]string, 0, len(refs))
	for _, ref := range refs {
		r := RefHash(ref)
		if r == hash || slices.Contains(hs, r) {
			continue
		}
		hs = append(hs, r)
		g.referrers[r] = append(g.referrers[r], hash)
	}
	g.refs[hash] = hs
}

// Has reports whether the graph holds path hash.
func (g *Graph) Has(hash string) bool { _, ok := g.refs[hash]; return ok }

// Len is the number of paths.
func (g *Graph) Len() int { return len(g.refs) }

// References returns the hashes hash refers to (not itself).
func (g *Graph) References(hash string) []string { return g.refs[hash] }

// Referrers returns the paths of the graph that refer to hash (not
// itself), in no particular order.
func (g *Graph) Referrers(hash string) []string {
	var out []string
	for _, r := range g.referrers[hash] {
		if g.Has(r) {
			out = append(out, r)
		}
	}
	return out
}

// Missing returns, for every path with references the graph lacks, those
// references' hashes, sorted.
func (g *Graph) Missing() map[string][]string {
	out := map[string][]string{}
	for h, refs := range g.refs {
		for _, r := range refs {
			if !g.Has(r) {
				out[h] = append(out[h], r)
			}
		}
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// WithReferrers returns set together with every path of the graph that
// refers to one of them, transitively: what has to go with set for every
// remaining path to keep its whole closure.
func (g *Graph) WithReferrers(set Set) Set {
	out := make(Set, len(set))
	queue := make([]string, 0, len(set))
	for h := range set {
		out.Add(h)
		queue = append(queue, h)
	}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, r := range g.Referrers(h) {
			if !out.Has(r) {
				out.Add(r)
				queue = append(queue, r)
			}
		}
	}
	return out
}

// OutsideReferrers returns, for each path of set that a path of the graph
// outside set refers to, those referrers, sorted. Deleting set alone is
// safe only when it is empty.
func (g *Graph) OutsideReferrers(set Set) map[string][]string {
	out := map[string][]string{}
	for h := range set {
		for _, r := range g.Referrers(h) {
			if !set.Has(r) {
				out[h] = append(out[h], r)
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
// its closure, provided set itself has no outside referrers.
func (g *Graph) OnlyKept(set Set) Set {
	out := make(Set, len(set))
	for h := range set {
		out.Add(h)
	}
	// A candidate goes once every one of its referrers goes; count the
	// referrers still kept.
	kept := map[string]int{}
	queue := make([]string, 0, len(set))
	for h := range set {
		queue = append(queue, h)
	}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, r := range g.refs[h] {
			if out.Has(r) || !g.Has(r) {
				continue
			}
			n, seen := kept[r]
			if !seen {
				n = len(g.Referrers(r))
			}
			n--
			kept[r] = n
			if n == 0 {
				out.Add(r)
				queue = append(queue, r)
			}
		}
	}
	return out
}

// DeleteOrder returns set's paths in an order that deletes every path
// before the paths it refers to (referrers first), so that at every step
// each remaining narinfo still has its references. Ties are in hash
// order; a reference cycle (which Nix never makes) is broken in hash
// order rather than looping.
func (g *Graph) DeleteOrder(set Set) []string {
	// Kahn's algorithm on set's subgraph: a path is ready once none of
	// its referrers inside set is left.
	waiting := make(map[string]int, len(set))
	for h := range set {
		n := 0
		for _, r := range g.Referrers(h) {
			if set.Has(r) {
				n++
			}
		}
		waiting[h] = n
	}
	ready := &hashHeap{}
	for h, n := range waiting {
		if n == 0 {
			heap.Push(ready, h)
		}
	}
	out := make([]string, 0, len(set))
	done := make(Set, len(set))
	for len(out) < len(set) {
		if ready.Len() == 0 { // a cycle: take the smallest hash left
			var least string
			for h := range waiting {
				if !done.Has(h) && (least == "" || h < least) {
					least = h
				}
			}
			heap.Push(ready, least)
		}
		h := heap.Pop(ready).(string)
		if done.Has(h) {
			continue
		}
		done.Add(h)
		out = append(out, h)
		for _, r := range g.refs[h] {
			if !set.Has(r) || done.Has(r) {
				continue
			}
			waiting[r]--
			if waiting[r] == 0 {
				heap.Push(ready, r)
			}
		}
	}
	return out
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
