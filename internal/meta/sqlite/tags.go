package sqlite

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

var (
	qSetTags    = query(`UPDATE objects SET tags = coalesce(?3, x'') WHERE bucket = ?1 AND key = ?2`)
	qSharedPart = query(`SELECT EXISTS (SELECT 1 FROM blob_refs WHERE blob = ?1)
		AND NOT EXISTS (SELECT 1 FROM parts WHERE upload_id = ?2 AND blob = ?1 AND number <> ?3)`)
)

// SetObjectTags replaces the tags of the object under key, and nothing
// else of it: meta.ErrNoSuchBucket, meta.ErrNoSuchKey.
func (s *Store) SetObjectTags(ctx context.Context, bucket, key string, tags []meta.Tag) error {
	enc := metaenc.EncodeTags(tags)
	return s.write(ctx, func(t *txn) error {
		if meta.CheckKey(key) != nil { // no such key is stored
			if err := t.needBucket(bucket); err != nil {
				return err
			}
			return fmt.Errorf("object %q/%q: %w", bucket, key, meta.ErrNoSuchKey)
		}
		res, err := t.exec(qSetTags, bucket, key, enc)
		if err != nil {
			return fmt.Errorf("set tags of %q/%q: %w", bucket, key, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			if err := t.needBucket(bucket); err != nil {
				return err
			}
			return fmt.Errorf("object %q/%q: %w", bucket, key, meta.ErrNoSuchKey)
		}
		return nil
	})
}

// sharedPart checks, for PutPart, that a part sharing an object's blob
// (meta.Part.Shared) may: an object still refers to the blob, and no other
// part of the upload uses it (CompleteUpload tells parts apart by blob).
// SQLite has one writer, so no delete can come between this check and the
// part's insert; a later one sees the part in its garbage check.
func (t *txn) sharedPart(uploadID string, p meta.Part) error {
	ok, err := t.exists(qSharedPart, p.Segment.Blob, uploadID, p.Number)
	if err != nil {
		return fmt.Errorf("look up blob %q: %w", p.Segment.Blob, err)
	}
	if !ok {
		return fmt.Errorf("part %d of upload %q, blob %q: %w", p.Number, uploadID, p.Segment.Blob, meta.ErrSharedBlob)
	}
	return nil
}
