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
	// qGuardNAR raises NB001 when the bucket does not hold key
	// (migrations/0009_nar_missing.sql).
	qGuardNAR = `SELECT nixbucket_nar_missing($1, $2)
		WHERE NOT EXISTS (SELECT 1 FROM objects WHERE bucket = $1 AND key = $2)`
	// codeNARMissing is qGuardNAR's SQLSTATE.
	codeNARMissing = "NB001"
)

// CollectObject deletes the object as DeleteObject does, unless a
// narinfo indexed after since names key as its NAR (see
// meta/collected.go). In the delete's serializable transaction: a
// narinfo put racing it (which reads the NAR, qGuardNAR) either commits
// first, and is seen, or finds the NAR gone, or one of the two fails and
// runs again.
func (s *Store) CollectObject(ctx context.Context, bucket, key string, since time.Time, check meta.Check) ([]meta.Segment, error) {
	if meta.CheckKey(key) != nil {
		return s.DeleteObject(ctx, bucket, key, check)
	}
	return s.deleteObject(ctx, bucket, key, check, &since)
}

// guardStmt is the statement that refuses to index n when the bucket
// does not hold its NAR (qGuardNAR), with its arguments; "" when n needs
// no such guard.
func guardStmt(bucket string, n *meta.Narinfo) (string, []any) {
	key := meta.GuardedNAR(n)
	if key == "" {
		return "", nil
	}
	return qGuardNAR, []any{bucket, key}
}

// guardErr turns qGuardNAR's refusal into meta.ErrNARMissing.
func guardErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeNARMissing {
		return fmt.Errorf("narinfo: %s: %w", pe.Message, meta.ErrNARMissing)
	}
	return err
}
