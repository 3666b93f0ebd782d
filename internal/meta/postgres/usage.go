package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// Usage returns every bucket's totals (see meta.Usages) in one statement:
// one grouped pass over each of objects, narinfos and uploads.
func (s *Store) Usage(ctx context.Context) ([]meta.Usage, error) {
	rows, err := s.pool.Query(ctx, `SELECT b.name, coalesce(o.n, 0), coalesce(o.bytes, 0)::bigint,
		coalesce(n.paths, 0), coalesce(u.n, 0)
		FROM buckets b
		LEFT JOIN (SELECT bucket, count(*) AS n, sum(size) AS bytes FROM objects GROUP BY bucket) o ON o.bucket = b.name
		LEFT JOIN (SELECT bucket, count(*) AS paths FROM narinfos GROUP BY bucket) n ON n.bucket = b.name
		LEFT JOIN (SELECT bucket, count(*) AS n FROM uploads GROUP BY bucket) u ON u.bucket = b.name
		ORDER BY b.name`)
	if err != nil {
		return nil, fmt.Errorf("sum buckets: %w", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Usage, error) {
		var u meta.Usage
		err := r.Scan(&u.Bucket, &u.Objects, &u.Bytes, &u.Paths, &u.Uploads)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("sum buckets: %w", err)
	}
	return us, nil
}
