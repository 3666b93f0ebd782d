package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var _ meta.Search = (*Store)(nil)

// nameExpr is a record's name as the narinfos_name index (0005) has it.
const nameExpr = `(substr(store_path, strpos(store_path, hash) + 33) COLLATE "C")`

// SearchNarinfos returns the records whose hash, then those whose name,
// starts with q, by two range reads of indexes in one snapshot:
// meta.ErrNoSuchBucket.
func (s *Store) SearchNarinfos(ctx context.Context, bucket, q string, limit int) ([]meta.Narinfo, error) {
	limit = max(limit, 1)
	term, ok := meta.SearchTerm(q)
	var out []meta.Narinfo
	err := s.readNarinfos(ctx, bucket, func(tx pgx.Tx) error {
		if !ok {
			return nil
		}
		seen := map[string]bool{}
		for _, q := range []string{
			`SELECT hash, ` + narinfoCols + ` FROM narinfos
			WHERE bucket = $1 AND hash >= $2 AND hash < $3 ORDER BY hash LIMIT $4`,
			`SELECT hash, ` + narinfoCols + ` FROM narinfos
			WHERE bucket = $1 AND ` + nameExpr + ` >= $2 AND ` + nameExpr + ` < $3
			ORDER BY ` + nameExpr + `, hash LIMIT $4`,
		} {
			if len(out) >= limit {
				break
			}
			got, err := queryNarinfos(ctx, tx, bucket, q, bucket, term, term+meta.SearchEnd, limit)
			if err != nil {
				return fmt.Errorf("search narinfos of %q for %q: %w", bucket, term, err)
			}
			for _, n := range got {
				if !seen[n.Hash] && len(out) < limit {
					seen[n.Hash] = true
					out = append(out, n)
				}
			}
		}
		return nil
	})
	return out, err
}

// RecentNarinfos returns the bucket's newest records by the
// narinfos_created index: meta.ErrNoSuchBucket.
func (s *Store) RecentNarinfos(ctx context.Context, bucket string, limit int) ([]meta.Narinfo, error) {
	limit = max(limit, 1)
	var out []meta.Narinfo
	err := s.readNarinfos(ctx, bucket, func(tx pgx.Tx) error {
		var err error
		out, err = queryNarinfos(ctx, tx, bucket, `SELECT hash, `+narinfoCols+` FROM narinfos
			WHERE bucket = $1 ORDER BY created DESC, hash DESC LIMIT $2`, bucket, limit)
		if err != nil {
			return fmt.Errorf("recent narinfos of %q: %w", bucket, err)
		}
		return nil
	})
	return out, err
}

// readNarinfos runs fn in a read-only snapshot once the bucket is known
// to exist.
func (s *Store) readNarinfos(ctx context.Context, bucket string, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, bucket); err != nil {
			return err
		}
		return fn(tx)
	})
}

// queryNarinfos runs a query selecting hash and narinfoCols.
func queryNarinfos(ctx context.Context, tx pgx.Tx, bucket, q string, args ...any) ([]meta.Narinfo, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return narinfoRows(rows, bucket)
}
