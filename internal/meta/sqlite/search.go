package sqlite

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var _ meta.Search = (*Store)(nil)

// nameExpr is a record's name as the narinfos_name index (0009) has it.
const nameExpr = `substr(store_path, instr(store_path, hash) + 33)`

var (
	qSearchHash = query(`SELECT hash, ` + narinfoCols + ` FROM narinfos
		WHERE bucket = ? AND hash >= ? AND hash < ? ORDER BY hash LIMIT ?`)
	qSearchName = query(`SELECT hash, ` + narinfoCols + ` FROM narinfos
		WHERE bucket = ? AND ` + nameExpr + ` >= ? AND ` + nameExpr + ` < ?
		ORDER BY ` + nameExpr + `, hash LIMIT ?`)
	qRecentNarinfos = query(`SELECT hash, ` + narinfoCols + ` FROM narinfos
		WHERE bucket = ? ORDER BY created DESC, hash DESC LIMIT ?`)
)

// SearchNarinfos returns the records whose hash, then those whose name,
// starts with q, by two range reads of indexes: meta.ErrNoSuchBucket.
func (s *Store) SearchNarinfos(ctx context.Context, bucket, q string, limit int) ([]meta.Narinfo, error) {
	limit = max(limit, 1)
	term, ok := meta.SearchTerm(q)
	var out []meta.Narinfo
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		if !ok {
			return nil
		}
		seen := map[string]bool{}
		for _, qq := range []string{qSearchHash, qSearchName} {
			if len(out) >= limit {
				break
			}
			got, err := scanNarinfoRows(t, bucket, qq, bucket, term, term+meta.SearchEnd, limit)
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
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		var err error
		out, err = scanNarinfoRows(t, bucket, qRecentNarinfos, bucket, limit)
		if err != nil {
			return fmt.Errorf("recent narinfos of %q: %w", bucket, err)
		}
		return nil
	})
	return out, err
}

// scanNarinfoRows runs a query selecting hash and narinfoCols.
func scanNarinfoRows(t *txn, bucket, q string, args ...any) ([]meta.Narinfo, error) {
	rows, err := t.query(q, args...)
	if err != nil {
		return nil, err
	}
	return narinfoRows(rows, bucket)
}
