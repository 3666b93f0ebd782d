package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/cacheaux"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// checkAux reports the debuginfo entries naming a NAR the bucket lacks and
// the realisations naming a path it lacks: Nix follows them to nothing.
// Entries younger than the grace are not judged (Nix writes a path's
// debuginfo entries before its NAR), nor those whose body does not parse
// (counted in AuxUnparsed: not Nix's, so not ours to judge).
func (c *Checker) checkAux(ctx context.Context, r *Report) error {
	cutoff := c.now().Add(-r.Grace)
	err := cacheaux.Scan(ctx, c.Store, c.Objects, r.Bucket, func(o cacheaux.Object) error {
		r.Aux++
		switch {
		case o.Err != nil:
			r.AuxUnparsed++
			return nil
		case o.Modified.After(cutoff):
			r.YoungAux++
			return nil
		}
		dangling, err := c.dangling(ctx, r.Bucket, o)
		if err != nil || !dangling {
			return err
		}
		r.dangling = append(r.dangling, o)
		switch o.Kind {
		case cacheaux.DebugInfo:
			r.add(DanglingDebugInfo, "", fmt.Sprintf("%s: %s not in the bucket", o.Key, o.Target))
		case cacheaux.Realisation:
			r.add(DanglingRealisation, "", fmt.Sprintf("%s: no narinfo %s.narinfo", o.Key, o.Target))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify %s: %w", r.Bucket, err)
	}
	return nil
}

// dangling reports whether o's target is missing from bucket now.
func (c *Checker) dangling(ctx context.Context, bucket string, o cacheaux.Object) (bool, error) {
	switch o.Kind {
	case cacheaux.DebugInfo:
		_, err := c.Store.Object(ctx, bucket, o.Target)
		if errors.Is(err, meta.ErrNoSuchKey) {
			return true, nil
		}
		return false, err
	case cacheaux.Realisation:
		return c.gone(ctx, bucket, o.Target)
	}
	return false, nil
}

// repairAux deletes the dangling entries the check found, each once more
// found dangling and unchanged since: one written again may point at
// something that is there.
func (c *Checker) repairAux(ctx context.Context, r *Report) ([]string, error) {
	var removed []string
	for _, o := range r.dangling {
		still, err := c.dangling(ctx, r.Bucket, o)
		if err != nil {
			return removed, fmt.Errorf("repair %s: %w", r.Bucket, err)
		}
		if !still {
			continue
		}
		err = c.Objects.Delete(ctx, r.Bucket, o.Key, objects.Conditions{UnmodifiedSince: o.Modified})
		switch {
		case errors.Is(err, meta.ErrPreconditionFailed), errors.Is(err, meta.ErrNoSuchKey):
			continue
		case err != nil:
			return removed, fmt.Errorf("repair %s: deleting %s: %w", r.Bucket, o.Key, err)
		}
		removed = append(removed, o.Key)
	}
	return removed, nil
}
