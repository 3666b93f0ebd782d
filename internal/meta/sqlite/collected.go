package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var (
	// qNarinfoClaims: has a narinfo indexed after ?2 named ?3 as its NAR?
	// The (bucket, created) index bounds it to the newest records.
	qNarinfoClaims = query(`SELECT EXISTS (SELECT 1 FROM narinfos
		WHERE bucket = ?1 AND created > ?2 AND url = ?3)`)
	qCollect = query(`INSERT OR REPLACE INTO collected (bucket, key, at) VALUES (?, ?, ?)`)
	// qCollectedGone: was key collected after ?3, and holds nothing since?
	qCollectedGone = query(`SELECT EXISTS (SELECT 1 FROM collected
		WHERE bucket = ?1 AND key = ?2 AND at > ?3
		AND NOT EXISTS (SELECT 1 FROM objects WHERE bucket = ?1 AND key = ?2))`)
	qForgetCollected       = query(`DELETE FROM collected WHERE bucket = ? AND at < ?`)
	qDeleteBucketCollected = query(`DELETE FROM collected WHERE bucket = ?`)
)

// CollectObject deletes the object as DeleteObject does, unless a
// narinfo indexed after since names key as its NAR, and records key as
// collected (see meta/collected.go).
func (s *Store) CollectObject(ctx context.Context, bucket, key string, since time.Time, check meta.Check) ([]meta.Segment, error) {
	return s.deleteObject(ctx, bucket, key, check, func(t *txn, deleted bool) error {
		claimed, err := t.exists(qNarinfoClaims, bucket, nanos(since), key)
		if err != nil {
			return fmt.Errorf("collect %q/%q: %w", bucket, key, err)
		}
		if claimed {
			return fmt.Errorf("collect %q/%q: a narinfo pushed since names it: %w", bucket, key, meta.ErrPreconditionFailed)
		}
		if !deleted {
			return nil
		}
		if _, err := t.exec(qCollect, bucket, key, nanos(time.Now())); err != nil {
			return fmt.Errorf("collect %q/%q: %w", bucket, key, err)
		}
		return nil
	})
}

// ForgetCollected drops the records of keys collected before before.
func (s *Store) ForgetCollected(ctx context.Context, bucket string, before time.Time) error {
	return s.write(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		if _, err := t.exec(qForgetCollected, bucket, nanos(before)); err != nil {
			return fmt.Errorf("forget collected keys of %q: %w", bucket, err)
		}
		return nil
	})
}

// guardNAR refuses (meta.ErrNARCollected) to index n when the garbage
// collector deleted its NAR lately and the bucket holds nothing there.
func (t *txn) guardNAR(bucket string, n *meta.Narinfo) error {
	key := meta.GuardedNAR(n)
	if key == "" {
		return nil
	}
	gone, err := t.exists(qCollectedGone, bucket, key, nanos(time.Now().Add(-meta.CollectedFor)))
	if err != nil {
		return fmt.Errorf("index narinfo %q/%q: look up its NAR: %w", bucket, n.Hash, err)
	}
	if gone {
		return fmt.Errorf("narinfo %s.narinfo names %s: %w; push the path again", n.Hash, key, meta.ErrNARCollected)
	}
	return nil
}
