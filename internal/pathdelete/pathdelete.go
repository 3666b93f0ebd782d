// Package pathdelete removes store paths from a bucket without breaking a
// closure: narinfos go referrers first, so that at every moment each
// remaining narinfo still has its references, and only then the NARs,
// listings and build logs that no remaining narinfo refers to; the
// debuginfo entries and realisations pointing at what goes go before it
// (see cacheaux). It is the
// act of `nixbucket path delete` and of `nixbucket verify --repair`; what
// goes is planned on a nixgraph.Graph of the bucket's index.
package pathdelete

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/cacheaux"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nixgraph"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// Path is what deleting needs of one narinfo record.
type Path struct {
	StorePath string
	URL       string // the NAR object's key
	Deriver   string // basename of the deriver, "" when none
	Created   time.Time
}

// Index is a bucket's narinfo index in memory: the reference graph and
// each path's objects.
type Index struct {
	Graph *nixgraph.Graph
	Paths map[string]Path // by hash
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{Graph: nixgraph.New(), Paths: map[string]Path{}}
}

// Add records a narinfo.
func (ix *Index) Add(n meta.Narinfo) {
	ix.Graph.Add(n.Hash, n.References)
	ix.Paths[n.Hash] = Path{StorePath: n.StorePath, URL: n.URL, Deriver: n.Deriver, Created: n.Created}
}

// Scanner pages through a bucket's narinfo index (meta.Nix).
type Scanner interface {
	ScanNarinfos(ctx context.Context, bucket, after string, limit int) ([]meta.Narinfo, error)
}

// pageSize is how many records one ScanNarinfos call reads.
const pageSize = 1000

// Load reads the bucket's whole index.
func Load(ctx context.Context, s Scanner, bucket string) (*Index, error) {
	ix := NewIndex()
	after := ""
	for {
		page, err := s.ScanNarinfos(ctx, bucket, after, pageSize)
		if err != nil {
			return nil, fmt.Errorf("reading the narinfo index: %w", err)
		}
		if len(page) == 0 {
			return ix, nil
		}
		for _, n := range page {
			ix.Add(n)
		}
		after = page[len(page)-1].Hash
	}
}

// Lookup returns the hash of a path named by its store path, its
// basename or its hash; ok is false when the bucket has no such path.
func (ix *Index) Lookup(name string) (hash string, ok bool) {
	hash = nixgraph.RefHash(strings.TrimSuffix(name, ".narinfo"))
	_, ok = ix.Paths[hash]
	return hash, ok
}

// DefaultGrace is how long after its push a path is not taken as kept
// only by the paths deleted with --closure: Nix uploads a narinfo's
// references before it, so a young path without referrers may be the
// reference of a narinfo still on its way (as gc-grace).
const DefaultGrace = time.Hour

// Young returns a test of whether a path was pushed after cutoff, for
// nixgraph.Graph.OnlyKept.
func (ix *Index) Young(cutoff time.Time) func(hash string) bool {
	return func(hash string) bool { return ix.Paths[hash].Created.After(cutoff) }
}

// Plan is what a deletion removes: narinfos in deletion order, then the
// objects only they referred to. Keys are object keys in the bucket.
type Plan struct {
	Bucket   string
	Order    []string // path hashes, referrers before references
	NARs     []string // NAR keys no remaining narinfo refers to
	Listings []string // <hash>.ls of the deleted paths
	Logs     []string // log/<deriver> no remaining path was built by
	// Aux are the debuginfo entries naming one of NARs and the
	// realisations naming one of Order (see cacheaux), set by Pointing.
	Aux []string
}

// Plan returns the plan deleting set (hashes in the index). It does not
// check that set has no outside referrers: callers decide (see
// nixgraph.Graph.OutsideReferrers).
func (ix *Index) Plan(bucket string, set nixgraph.Set) Plan {
	p := Plan{Bucket: bucket, Order: ix.Graph.DeleteOrder(set)}
	keptURL := map[string]bool{}
	keptDrv := map[string]bool{}
	for h, path := range ix.Paths {
		if !set.Has(h) {
			keptURL[path.URL] = true
			keptDrv[path.Deriver] = true
		}
	}
	seenURL := map[string]bool{}
	seenDrv := map[string]bool{}
	for _, h := range set.Sorted() {
		path, ok := ix.Paths[h]
		if !ok {
			continue
		}
		p.Listings = append(p.Listings, h+".ls")
		if path.URL != "" && !keptURL[path.URL] && !seenURL[path.URL] {
			seenURL[path.URL] = true
			p.NARs = append(p.NARs, path.URL)
		}
		if d := path.Deriver; d != "" && d != "unknown-deriver" && !keptDrv[d] && !seenDrv[d] {
			seenDrv[d] = true
			p.Logs = append(p.Logs, "log/"+d)
		}
	}
	slices.Sort(p.NARs)
	slices.Sort(p.Logs)
	return p
}

// Pointing adds to p the objects that point at what it deletes: the
// debuginfo entries naming one of its NARs and the realisations naming
// one of its paths. They go first (Execute), so the cache never serves
// one whose target is gone. An entry whose body does not parse stays.
func Pointing(ctx context.Context, l cacheaux.Lister, g cacheaux.Getter, p *Plan) error {
	nars := map[string]bool{}
	for _, k := range p.NARs {
		nars[k] = true
	}
	paths := nixgraph.NewSet(p.Order...)
	return cacheaux.Scan(ctx, l, g, p.Bucket, func(o cacheaux.Object) error {
		switch {
		case o.Target == "":
		case o.Kind == cacheaux.DebugInfo && nars[o.Target],
			o.Kind == cacheaux.Realisation && paths.Has(o.Target):
			p.Aux = append(p.Aux, o.Key)
		}
		return nil
	})
}

// Objects is what deleting needs of the object core: deletes go through
// it (the S3 DeleteObject path), so blobs are freed as for any delete.
type Objects interface {
	Head(ctx context.Context, bucket, key string) (meta.Object, error)
	Delete(ctx context.Context, bucket, key string, cond objects.Conditions) error
}

// Sizes are the bytes a plan frees, from the objects' records.
type Sizes struct {
	Narinfos, NARs, Listings, Logs, Aux                      int64 // bytes
	NarinfoCount, NARCount, ListingCount, LogCount, AuxCount int
}

// Total is all the bytes.
func (s Sizes) Total() int64 { return s.Narinfos + s.NARs + s.Listings + s.Logs + s.Aux }

// Measure looks up the plan's objects: the bytes each kind frees, and
// which of them exist (listings and logs often do not). It drops missing
// listings and logs from the plan.
func Measure(ctx context.Context, o Objects, p *Plan) (Sizes, error) {
	var s Sizes
	size := func(key string) (int64, bool, error) {
		obj, err := o.Head(ctx, p.Bucket, key)
		if errors.Is(err, meta.ErrNoSuchKey) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		return obj.Size, true, nil
	}
	for _, h := range p.Order {
		n, ok, err := size(h + ".narinfo")
		if err != nil {
			return s, err
		}
		if ok {
			s.Narinfos += n
			s.NarinfoCount++
		}
	}
	for _, k := range p.NARs {
		n, ok, err := size(k)
		if err != nil {
			return s, err
		}
		if ok {
			s.NARs += n
			s.NARCount++
		}
	}
	keep := func(keys []string, bytes *int64, count *int) ([]string, error) {
		var out []string
		for _, k := range keys {
			n, ok, err := size(k)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, k)
				*bytes += n
				*count++
			}
		}
		return out, nil
	}
	var err error
	if p.Listings, err = keep(p.Listings, &s.Listings, &s.ListingCount); err != nil {
		return s, err
	}
	if p.Logs, err = keep(p.Logs, &s.Logs, &s.LogCount); err != nil {
		return s, err
	}
	if p.Aux, err = keep(p.Aux, &s.Aux, &s.AuxCount); err != nil {
		return s, err
	}
	return s, nil
}

// Execute deletes the plan's debuginfo entries and realisations, then its
// narinfos in its order, then its NARs, listings and logs. It stops at the
// first failure: what was deleted by then leaves every remaining narinfo
// with its closure, since referrers go first and the other objects last,
// and nothing served points at a deleted NAR or path, since what points
// goes before. done is called after each delete.
func Execute(ctx context.Context, o Objects, p Plan, done func(key string)) error {
	del := func(key string) error {
		if err := o.Delete(ctx, p.Bucket, key, objects.Conditions{}); err != nil {
			return fmt.Errorf("deleting %s/%s: %w", p.Bucket, key, err)
		}
		if done != nil {
			done(key)
		}
		return nil
	}
	for _, k := range p.Aux {
		if err := del(k); err != nil {
			return err
		}
	}
	for _, h := range p.Order {
		if err := del(h + ".narinfo"); err != nil {
			return err
		}
	}
	for _, keys := range [][]string{p.NARs, p.Listings, p.Logs} {
		for _, k := range keys {
			if err := del(k); err != nil {
				return err
			}
		}
	}
	return nil
}
