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
	qObjectExists = query(`SELECT EXISTS (SELECT 1 FROM objects WHERE bucket = ? AND key = ?)`)
)

// CollectObject deletes the object as DeleteObject does, unless a
// narinfo indexed after since names key as its NAR (see
// meta/collected.go).
func (s *Store) CollectObject(ctx context.Context, bucket, key string, since time.Time, check meta.Check) ([]meta.Segment, error) {
	return s.deleteObject(ctx, bucket, key, check, func(t *txn) error {
		claimed, err := t.exists(qNarinfoClaims, bucket, nanos(since), key)
		if err != nil {
			return fmt.Errorf("collect %q/%q: %w", bucket, key, err)
		}
		if claimed {
			return fmt.Errorf("collect %q/%q: a narinfo pushed since names it: %w", bucket, key, meta.ErrPreconditionFailed)
		}
		return nil
	})
}

// guardNAR refuses (meta.ErrNARMissing) to index n when the bucket does
// not hold its NAR.
func (t *txn) guardNAR(bucket string, n *meta.Narinfo) error {
	key := meta.GuardedNAR(n)
	if key == "" {
		return nil
	}
	there, err := t.exists(qObjectExists, bucket, key)
	if err != nil {
		return fmt.Errorf("index narinfo %q/%q: look up its NAR: %w", bucket, n.Hash, err)
	}
	if !there {
		return fmt.Errorf("narinfo %s.narinfo: URL: %s: %w", n.Hash, key, meta.ErrNARMissing)
	}
	return nil
}
