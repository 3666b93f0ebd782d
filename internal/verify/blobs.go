package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// batch is how many blobs one Referenced call asks about, and how many
// objects one scan reads.
const batch = 500

// walkBlobs lists the blob store, and reports as orphans the blobs no
// object or upload part refers to that are older than the grace. Younger
// unreferenced ones are counted, not judged: an upload in flight commits
// its blob before the metadata that refers to it. It returns every blob
// seen.
func (c *Checker) walkBlobs(ctx context.Context, r *Report) (map[string]bool, error) {
	cutoff := c.now().Add(-r.Grace)
	seen := map[string]bool{}
	young := map[string]bool{}
	var ids []string
	err := c.Blobs.Walk(ctx, func(id string, committed time.Time) error {
		seen[id] = true
		ids = append(ids, id)
		if !committed.Before(cutoff) {
			young[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("verify: listing blobs: %w", err)
	}
	r.Blobs = int64(len(seen))
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, batch) {
		refs, err := c.Store.Referenced(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("verify: blob references: %w", err)
		}
		for _, id := range chunk {
			switch {
			case refs[id]:
			case young[id]:
				r.YoungBlobs++
			default:
				r.orphans = append(r.orphans, id)
				r.add(OrphanBlob, "", id)
			}
		}
	}
	return seen, nil
}

// checkObjects reports the bucket's objects that point at a blob the blob
// store does not have. A blob committed after the walk is not missing:
// one not seen by the walk is looked up again before it is reported.
func (c *Checker) checkObjects(ctx context.Context, r *Report, bucket string, blobs map[string]bool) error {
	after := ""
	for {
		page, err := c.Store.ScanObjects(ctx, meta.ScanQuery{Bucket: bucket, After: after, Limit: batch})
		if err != nil {
			return fmt.Errorf("verify %s: listing objects: %w", bucket, err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, o := range page {
			r.Objects++
			obj, err := c.Store.Object(ctx, bucket, o.Key)
			if errors.Is(err, meta.ErrNoSuchKey) {
				continue // deleted meanwhile
			}
			if err != nil {
				return fmt.Errorf("verify %s: %w", bucket, err)
			}
			for _, s := range obj.Segments {
				if s.Inline() || blobs[s.Blob] {
					continue
				}
				if missing, err := c.blobMissing(ctx, s.Blob); err != nil {
					return err
				} else if missing {
					r.add(MissingBlob, "", fmt.Sprintf("%s: blob %s", o.Key, s.Blob))
					r.missingBlobKeys = append(r.missingBlobKeys, o.Key)
				}
			}
		}
		after = page[len(page)-1].Key
	}
}

func (c *Checker) blobMissing(ctx context.Context, id string) (bool, error) {
	b, err := c.Blobs.Open(ctx, id)
	if storage.IsNotExist(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("verify: opening blob %s: %w", id, err)
	}
	b.Close()
	return false, nil
}
