package gc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// hashLen is the length of a store path hash.
const hashLen = 32

// Node flags.
const (
	fPresent   uint8 = 1 << iota // the bucket's index has the path's narinfo
	fRoot                        // kept whatever the size: pinned, or younger than the grace period
	fEvictable                   // kept by retention, unless max-size evicts it
	fKept                        // in the closure of the roots
	fOverSize                    // evicted for max-size (else stale, when not kept)
)

// graph is the narinfo index of one bucket in compact form: a million
// paths with ten references each take about 150 MB. Nodes are int32 ids;
// a path met first as a reference gets its id then, and is present only
// once its own record is scanned. References live in one arena.
type graph struct {
	ids     map[uint64]int32 // key(hash) → id
	hashes  []byte           // hashLen bytes per node
	flags   []uint8
	lastUse []int64 // unix nanoseconds: the later of created and last access
	size    []int64 // bytes the path holds: NAR (FileSize), narinfo, listing, log, debuginfo and realisation objects
	// fileSize is the NAR's FileSize, which size drops when the NAR is
	// not stored (a pulled path's, fetched from upstream on its first GET).
	fileSize []int64
	niSize   []int32 // the narinfo object's size, once the object scan saw it
	url      []uint64
	deriver  []uint64 // key of the deriver's basename; 0 without one
	refOff   []int32
	refLen   []int32
	refs     []int32
	aux      map[uint64]auxTarget // debuginfo entries and realisations read (aux.go)
}

// newGraph returns an empty graph with room for about paths paths and
// refs references, so that a million paths grow no slice by copying.
func newGraph(paths, refs int) *graph {
	n := paths + paths/16 // and some referenced paths without a narinfo
	return &graph{
		ids:      make(map[uint64]int32, n),
		hashes:   make([]byte, 0, n*hashLen),
		flags:    make([]uint8, 0, n),
		lastUse:  make([]int64, 0, n),
		size:     make([]int64, 0, n),
		fileSize: make([]int64, 0, n),
		niSize:   make([]int32, 0, n),
		url:      make([]uint64, 0, n),
		deriver:  make([]uint64, 0, n),
		refOff:   make([]int32, 0, n),
		refLen:   make([]int32, 0, n),
		refs:     make([]int32, 0, refs),
	}
}

// key hashes a string (a store path hash, a URL, a deriver) to 64 bits.
// Distinct store path hashes that collide are detected (see node); for
// URLs and derivers a collision only keeps an object that could go.
func key(s string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211 // FNV-1a
	k := uint64(offset)
	for i := 0; i < len(s); i++ {
		k ^= uint64(s[i])
		k *= prime
	}
	if k == 0 {
		k = 1 // 0 means none
	}
	return k
}

// pathHash returns the hash part of a store path basename or hash.
func pathHash(basename string) string {
	if len(basename) > hashLen {
		return basename[:hashLen]
	}
	return basename
}

func (g *graph) len() int { return len(g.flags) }

func (g *graph) hash(id int32) string {
	return string(g.hashes[int(id)*hashLen : int(id+1)*hashLen])
}

// lookup returns the id of hash, or -1.
func (g *graph) lookup(hash string) int32 {
	if len(hash) != hashLen {
		return -1
	}
	id, ok := g.ids[key(hash)]
	if !ok || g.hash(id) != hash {
		return -1
	}
	return id
}

// node returns the id of hash, adding the node if new.
func (g *graph) node(hash string) (int32, error) {
	if len(hash) != hashLen {
		return -1, fmt.Errorf("store path hash %q: want %d characters", hash, hashLen)
	}
	k := key(hash)
	if id, ok := g.ids[k]; ok {
		if g.hash(id) != hash {
			return -1, fmt.Errorf("store path hashes %q and %q collide in the collector's table", hash, g.hash(id))
		}
		return id, nil
	}
	id := int32(len(g.flags))
	g.ids[k] = id
	g.hashes = append(g.hashes, hash...)
	g.flags = append(g.flags, 0)
	g.lastUse = append(g.lastUse, 0)
	g.size = append(g.size, 0)
	g.fileSize = append(g.fileSize, 0)
	g.niSize = append(g.niSize, 0)
	g.url = append(g.url, 0)
	g.deriver = append(g.deriver, 0)
	g.refOff = append(g.refOff, 0)
	g.refLen = append(g.refLen, 0)
	return id, nil
}

// add records a narinfo. Self-references are left out: they keep nothing.
func (g *graph) add(e meta.NarinfoEdge) error {
	id, err := g.node(e.Hash)
	if err != nil {
		return err
	}
	if g.flags[id]&fPresent != 0 {
		return fmt.Errorf("narinfo %q scanned twice", e.Hash)
	}
	g.flags[id] |= fPresent
	c, a := e.Created.UnixNano(), e.LastAccess.UnixNano()
	g.lastUse[id] = max(c, a)
	g.size[id] += e.FileSize
	g.fileSize[id] = e.FileSize
	g.url[id] = key(e.URL)
	if e.Deriver != "" && e.Deriver != "unknown-deriver" {
		g.deriver[id] = key(e.Deriver)
	}
	g.refOff[id] = int32(len(g.refs))
	for _, r := range e.References {
		h := pathHash(r)
		if h == e.Hash || len(h) != hashLen {
			continue
		}
		rid, err := g.node(h)
		if err != nil {
			return err
		}
		g.refs = append(g.refs, rid)
	}
	g.refLen[id] = int32(len(g.refs)) - g.refOff[id]
	return nil
}

func (g *graph) refsOf(id int32) []int32 {
	return g.refs[g.refOff[id] : g.refOff[id]+g.refLen[id]]
}

func (g *graph) is(id int32, f uint8) bool { return g.flags[id]&f != 0 }

// keySet is a set of 64-bit keys, sorted for binary search: an eighth of
// the memory of a map.
type keySet []uint64

func (s keySet) has(k uint64) bool {
	_, ok := slices.BinarySearch(s, k)
	return ok
}

// keys returns the set of field(id) over the present nodes for which
// keep(id) holds, leaving out zeros.
func (g *graph) keys(field []uint64, keep func(id int32) bool) keySet {
	var s keySet
	for id := range int32(g.len()) {
		if g.is(id, fPresent) && field[id] != 0 && keep(id) {
			s = append(s, field[id])
		}
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// keyHash returns the store path hash a top-level key names with suffix
// (".narinfo", ".ls"), or "".
func keyHash(objKey, suffix string) string {
	h, ok := strings.CutSuffix(objKey, suffix)
	if !ok || len(h) != hashLen || strings.Contains(h, "/") {
		return ""
	}
	return h
}
