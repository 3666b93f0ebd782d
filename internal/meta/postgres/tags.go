package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// SetObjectTags replaces the tags of the object under key, and nothing
// else of it: meta.ErrNoSuchBucket, meta.ErrNoSuchKey. Other nodes hear of
// it as of any object write, since their memos hold the tags too.
func (s *Store) SetObjectTags(ctx context.Context, bucket, key string, tags []meta.Tag) error {
	if meta.CheckKey(key) != nil {
		if err := needBucket(ctx, s.pool, bucket); err != nil {
			return err
		}
		return fmt.Errorf("object %q/%q: %w", bucket, key, meta.ErrNoSuchKey)
	}
	enc := metaenc.EncodeTags(tags)
	return s.writeObjects(ctx, bucket, func(tx pgx.Tx, changed func(string)) error {
		tag, err := tx.Exec(ctx, `UPDATE objects SET tags = $3 WHERE bucket = $1 AND key = $2`, bucket, key, enc)
		if err != nil {
			return fmt.Errorf("set tags of %q/%q: %w", bucket, key, err)
		}
		if tag.RowsAffected() == 0 {
			if err := needBucket(ctx, tx, bucket); err != nil {
				return err
			}
			return fmt.Errorf("object %q/%q: %w", bucket, key, meta.ErrNoSuchKey)
		}
		changed(key)
		return nil
	})
}

// sharedPart checks, for PutPart, that a part sharing an object's blob
// (meta.Part.Shared) may: an object still refers to the blob, and no other
// part of the upload uses it (CompleteUpload tells parts apart by blob).
// The transaction is serializable, so a delete of the last object that
// refers to the blob either commits before (and this finds no reference)
// or sees the part in its own garbage check.
func sharedPart(ctx context.Context, tx pgx.Tx, uploadID string, p meta.Part) error {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM blob_refs WHERE blob = $1)
		AND NOT EXISTS (SELECT 1 FROM parts WHERE upload_id = $2 AND blob = $1 AND number <> $3)`,
		p.Segment.Blob, uploadID, p.Number).Scan(&ok)
	if err != nil {
		return fmt.Errorf("look up blob %q: %w", p.Segment.Blob, err)
	}
	if !ok {
		return fmt.Errorf("part %d of upload %q, blob %q: %w", p.Number, uploadID, p.Segment.Blob, meta.ErrSharedBlob)
	}
	return nil
}
