package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nixbucket/nixbucket/internal/meta"
)

const (
	// qNarinfoClaims: has a narinfo indexed after $2 named $3 as its NAR?
	// The (bucket, created) index bounds it to the newest records.
	qNarinfoClaims = `SELECT EXISTS (SELECT 1 FROM narinfos WHERE bucket = $1 AND created > $2 AND url = $3)`
	qCollect       = `INSERT INTO collected (bucket, key, at) VALUES ($1, $2, $3)
		ON CONFLICT (bucket, key) DO UPDATE SET at = excluded.at`
	// qGuardNAR raises NB001 when key was collected after $3 and holds
	// nothing since (migrations/0009_collected.sql).
	qGuardNAR = `SELECT nixbucket_refuse_collected($1, $2) FROM collected
		WHERE bucket = $1 AND key = $2 AND at > $3
		AND NOT EXISTS (SELECT 1 FROM objects WHERE bucket = $1 AND key = $2)`
	// codeCollected is qGuardNAR's SQLSTATE.
	codeCollected = "NB001"
)

// CollectObject deletes the object as DeleteObject does, unless a
// narinfo indexed after since names key as its NAR, and records key as
// collected (see meta/collected.go). Both in the delete's serializable
// transaction: a narinfo put racing it either commits first, and is seen,
// or sees the record, or one of the two fails and runs again.
func (s *Store) CollectObject(ctx context.Context, bucket, key string, since time.Time, check meta.Check) ([]meta.Segment, error) {
	if meta.CheckKey(key) != nil {
		return s.DeleteObject(ctx, bucket, key, check)
	}
	return s.deleteObject(ctx, bucket, key, check, &since)
}

// ForgetCollected drops the records of keys collected before before.
func (s *Store) ForgetCollected(ctx context.Context, bucket string, before time.Time) error {
	if err := needBucket(ctx, s.pool, bucket); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM collected WHERE bucket = $1 AND at < $2`, bucket, micros(before)); err != nil {
		return fmt.Errorf("forget collected keys of %q: %w", bucket, err)
	}
	return nil
}

// guardStmt is the statement that refuses to index n when the garbage
// collector deleted its NAR lately and the bucket holds nothing there
// (qGuardNAR), with its arguments; "" when n needs no such guard.
func guardStmt(bucket string, n *meta.Narinfo) (string, []any) {
	key := meta.GuardedNAR(n)
	if key == "" {
		return "", nil
	}
	return qGuardNAR, []any{bucket, key, micros(time.Now().Add(-meta.CollectedFor))}
}

// collectedErr turns qGuardNAR's refusal into meta.ErrNARCollected.
func collectedErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeCollected {
		return fmt.Errorf("%s: %w; push the path again", pe.Message, meta.ErrNARCollected)
	}
	return err
}
