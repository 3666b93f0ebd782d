package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nixgraph"
	"github.com/nixbucket/nixbucket/internal/pathdelete"
)

// Removed is what a repair removed.
type Removed struct {
	Broken    []string // store paths of broken narinfos
	Referrers []string // store paths removed because they refer to a broken one
	Plan      pathdelete.Plan
	Sizes     pathdelete.Sizes
	Orphans   []string // blob IDs
	Dangling  []string // keys of debuginfo entries and realisations whose target was gone
}

// Repair removes what the check found broken: the broken narinfos, and
// transitively the narinfos that refer to them (their closure is broken),
// referrers first, then the NARs, listings and logs no remaining narinfo
// refers to, with the debuginfo entries and realisations naming what
// went; the debuginfo entries and realisations whose NAR or path was
// already gone; and the orphan blobs, each checked once more to be
// unreferenced. Unsigned narinfos stay: they are only reported. Paths
// that only the removed ones kept are left to the garbage collector.
func (c *Checker) Repair(ctx context.Context, r *Report) (Removed, error) {
	var out Removed
	if !c.ForRepair {
		return out, errors.New("repair: the check did not keep the records (Checker.ForRepair)")
	}
	// A broken narinfo pushed again since the check (or gone) is not
	// removed: the check judged another record.
	broken := nixgraph.Set{}
	for h := range r.broken {
		n, err := c.Store.Narinfo(ctx, r.Bucket, h)
		if errors.Is(err, meta.ErrNoSuchKey) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("repair %s: %w", r.Bucket, err)
		}
		if n.Created.Equal(r.index.Paths[h].Created) {
			broken.Add(h)
		}
	}
	set := r.index.Graph.WithReferrers(broken)
	for _, h := range set.Sorted() {
		sp := r.index.Paths[h].StorePath
		if broken.Has(h) {
			out.Broken = append(out.Broken, sp)
		} else {
			out.Referrers = append(out.Referrers, sp)
		}
	}
	out.Plan = r.index.Plan(r.Bucket, set)
	var err error
	if out.Dangling, err = c.repairAux(ctx, r); err != nil {
		return out, err
	}
	if err := pathdelete.Pointing(ctx, c.Store, c.Objects, &out.Plan); err != nil {
		return out, fmt.Errorf("repair %s: %w", r.Bucket, err)
	}
	if out.Sizes, err = pathdelete.Measure(ctx, c.Objects, &out.Plan); err != nil {
		return out, fmt.Errorf("repair %s: %w", r.Bucket, err)
	}
	if err := pathdelete.Execute(ctx, c.Objects, out.Plan, nil); err != nil {
		return out, fmt.Errorf("repair %s: %w", r.Bucket, err)
	}
	for i := 0; i < len(r.orphans); i += batch {
		chunk := r.orphans[i:min(i+batch, len(r.orphans))]
		refs, err := c.Store.Referenced(ctx, chunk)
		if err != nil {
			return out, fmt.Errorf("repair: blob references: %w", err)
		}
		for _, id := range chunk {
			if refs[id] {
				continue
			}
			if err := c.Blobs.Delete(ctx, id); err != nil {
				return out, fmt.Errorf("repair: deleting orphan blob %s: %w", id, err)
			}
			out.Orphans = append(out.Orphans, id)
		}
	}
	return out, nil
}

// Repairable is the number of problems a repair removes: broken
// narinfos (counted once each) and orphan blobs.
func (r *Report) Repairable() int { return len(r.broken) + len(r.orphans) + len(r.dangling) }

// Repaired is the number of the report's problems that rm removed: the
// broken narinfos' problems, the orphan blobs, the dangling debuginfo
// entries and realisations, and the objects pointing
// at a missing blob that went with them (NARs). Signature problems and
// other objects with missing blobs stay.
func (r *Report) Repaired(rm Removed) int {
	n := len(rm.Orphans) + len(rm.Dangling)
	for k, c := range r.Counts {
		if k.Broken() {
			n += c
		}
	}
	gone := map[string]bool{}
	for _, k := range rm.Plan.NARs {
		gone[k] = true
	}
	for _, k := range r.missingBlobKeys {
		if gone[k] {
			n++
		}
	}
	return n
}

// BrokenSet returns the hashes of the broken narinfos.
func (r *Report) BrokenSet() nixgraph.Set { return r.broken }
