package console

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nixgraph"
)

var anonymous = access.Identity{Anonymous: true}

// MaxGraph bounds the paths the console reads to rank a bucket's largest
// closures and find a path's referrers (a scan of the narinfo index, as
// verify does): above it those parts of the pages say the bucket is too
// large, and `nix path-info` does the job.
const MaxGraph = 20000

// MaxClosure bounds the paths of one closure the store path page
// follows, one index lookup each.
const MaxClosure = 20000

// node is a path of a bucket's graph.
type node struct {
	n     meta.Narinfo // Hash, StorePath, NarSize and References only
	refs  []string     // hashes
	lname string       // the name (after "<hash>-"), lower case
}

// graph is a bucket's narinfo index in memory (graphs keeps it while the
// bucket does not change). It is not changed once loaded.
type graph struct {
	nodes map[string]*node
	cost  int // bytes, roughly

	rankOnce sync.Once
	ranked   []closureRow // every root, largest closure first
}

// loadGraph reads the bucket's index, or returns nil when it holds more
// than MaxGraph paths.
func (h *Handler) loadGraph(ctx context.Context, bucket string) (*graph, error) {
	g := &graph{nodes: map[string]*node{}}
	after := ""
	for {
		page, err := h.store.ScanNarinfos(ctx, bucket, after, 1000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return g, nil
		}
		for _, n := range page {
			n = meta.Narinfo{Hash: n.Hash, StorePath: n.StorePath, NarSize: n.NarSize, References: n.References}
			nd := &node{n: n, lname: strings.ToLower(pathName(n.StorePath, n.Hash))}
			g.cost += nodeCost + len(n.Hash) + len(n.StorePath) + len(nd.lname)
			for _, ref := range n.References {
				g.cost += len(ref) + 32
				if rh := nixgraph.RefHash(ref); rh != n.Hash {
					nd.refs = append(nd.refs, rh)
				}
			}
			g.nodes[n.Hash] = nd
		}
		if len(g.nodes) > MaxGraph {
			return nil, nil
		}
		after = page[len(page)-1].Hash
	}
}

// closureRow is a path with its closure's size.
type closureRow struct {
	N        meta.Narinfo
	Paths    int
	NarBytes int64
}

// maxRankedLooked bounds the roots the bucket page looks at for the
// largest closures the caller may read: one policy decision each.
const maxRankedLooked = 1000

// nodeCost is what a node costs beside its strings, roughly.
const nodeCost = 200

// largest returns the n largest closures of paths nothing in the bucket
// refers to (roots: what users install; a dependency's closure is within
// its referrer's) among the roots keep takes, of the largest
// maxRankedLooked. They are ranked once per graph.
func (g *graph) largest(n int, keep func(hash string) bool) []closureRow {
	g.rankOnce.Do(func() { g.ranked = g.rank() })
	var out []closureRow
	for i, row := range g.ranked {
		if len(out) == n || i == maxRankedLooked {
			break
		}
		if keep(row.N.Hash) {
			out = append(out, row)
		}
	}
	return out
}

// rank returns every root with its closure, largest first.
func (g *graph) rank() []closureRow {
	referred := map[string]bool{}
	for _, nd := range g.nodes {
		for _, r := range nd.refs {
			referred[r] = true
		}
	}
	var rows []closureRow
	for hash, nd := range g.nodes {
		if referred[hash] {
			continue
		}
		paths, size := g.closure(hash)
		rows = append(rows, closureRow{N: nd.n, Paths: paths, NarBytes: size})
	}
	slices.SortFunc(rows, func(a, b closureRow) int {
		if a.NarBytes != b.NarBytes {
			if a.NarBytes > b.NarBytes {
				return -1
			}
			return 1
		}
		return compareStrings(a.N.StorePath, b.N.StorePath)
	})
	return rows
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// closure counts the paths and sums the NAR sizes of hash's closure
// within the graph.
func (g *graph) closure(hash string) (paths int, size int64) {
	seen := map[string]bool{hash: true}
	stack := []string{hash}
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nd, ok := g.nodes[h]
		if !ok {
			continue
		}
		paths++
		size += nd.n.NarSize
		for _, r := range nd.refs {
			if !seen[r] {
				seen[r] = true
				stack = append(stack, r)
			}
		}
	}
	return paths, size
}

// referrers returns the paths of the graph that refer to hash.
func (g *graph) referrers(hash string) []meta.Narinfo {
	var out []meta.Narinfo
	for _, nd := range g.nodes {
		if slices.Contains(nd.refs, hash) {
			out = append(out, nd.n)
		}
	}
	slices.SortFunc(out, func(a, b meta.Narinfo) int { return compareStrings(a.StorePath, b.StorePath) })
	return out
}

// pathName is a store path's name: what follows "<hash>-", as the
// stores' name index has it.
func pathName(storePath, hash string) string {
	if i := strings.Index(storePath, hash+"-"); i >= 0 {
		return storePath[i+len(hash)+1:]
	}
	return storePath
}

// maxResults bounds the paths a search lists.
const maxResults = 50

// containing returns up to limit paths of the graph whose name holds q
// (compared without case), by name, leaving out those in found: the
// bucket page's search lists them after the paths whose hash or name
// starts with q, so "2.12" finds hello-2.12.
func (g *graph) containing(q string, found []meta.Narinfo, limit int) []meta.Narinfo {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" || limit <= 0 {
		return nil
	}
	skip := map[string]bool{}
	for _, n := range found {
		skip[n.Hash] = true
	}
	var out []*node
	for hash, nd := range g.nodes {
		if !skip[hash] && strings.Contains(nd.lname, q) {
			out = append(out, nd)
		}
	}
	slices.SortFunc(out, func(a, b *node) int {
		if c := compareStrings(a.lname, b.lname); c != 0 {
			return c
		}
		return compareStrings(a.n.Hash, b.n.Hash)
	})
	res := make([]meta.Narinfo, 0, min(limit, len(out)))
	for _, nd := range out[:min(limit, len(out))] {
		res = append(res, nd.n)
	}
	return res
}

// closureInfo is a store path's closure as the store path page shows it.
type closureInfo struct {
	Paths    int
	NarBytes int64
	Missing  []string // references the bucket does not hold
	Hidden   int      // paths the caller may not read, left out
	Cut      bool     // stopped at MaxClosure
}

// pathClosure follows references from a path as `nix path-info -S` sums
// them: through the bucket's graph g, or without one (a bucket over
// MaxGraph, or a caller who may not list it) through the narinfo index, a
// level of the closure at a time, lookupBatch paths a query: a path of
// 10,000 references made 10,000 queries per view, seconds on PostgreSQL,
// for anyone a public bucket lets in. A path the caller may not read
// (s3:GetObject on its narinfo) is left out and counted.
func (h *Handler) pathClosure(ctx context.Context, bucket string, root meta.Narinfo, g *graph, may func(hash string) bool) (closureInfo, error) {
	var ci closureInfo
	seen := map[string]bool{root.Hash: true}
	level := []meta.Narinfo{root}
	for len(level) > 0 {
		var want []string            // the next level's hashes
		refOf := map[string]string{} // hash → the reference naming it
		for _, n := range level {
			ci.Paths++
			ci.NarBytes += n.NarSize
			for _, ref := range n.References {
				rh := nixgraph.RefHash(ref)
				if seen[rh] {
					continue
				}
				seen[rh] = true
				if len(seen) > MaxClosure {
					ci.Cut = true
					return ci, nil
				}
				if !may(rh) {
					ci.Hidden++
					continue
				}
				want = append(want, rh)
				refOf[rh] = ref
			}
		}
		next, err := h.lookupNarinfos(ctx, bucket, g, want)
		if err != nil {
			return ci, err
		}
		found := make(map[string]meta.Narinfo, len(next))
		for _, n := range next {
			found[n.Hash] = n
		}
		level = level[:0:0]
		for _, rh := range want { // in the references' order
			if n, ok := found[rh]; ok {
				level = append(level, n)
			} else {
				ci.Missing = append(ci.Missing, refOf[rh])
			}
		}
	}
	return ci, nil
}

// lookupBatch bounds the hashes of one query of the narinfo index.
const lookupBatch = 1000

// lookupNarinfos returns the records of those of hashes the bucket holds:
// from g when there is one, else from the index, lookupBatch at a time.
func (h *Handler) lookupNarinfos(ctx context.Context, bucket string, g *graph, hashes []string) ([]meta.Narinfo, error) {
	var out []meta.Narinfo
	if g != nil {
		for _, rh := range hashes {
			if nd, ok := g.nodes[rh]; ok {
				out = append(out, nd.n)
			}
		}
		return out, nil
	}
	for len(hashes) > 0 {
		batch := hashes[:min(lookupBatch, len(hashes))]
		hashes = hashes[len(batch):]
		ns, err := h.store.Narinfos(ctx, bucket, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, ns...)
	}
	return out, nil
}
