package sqlite

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// qUsage sums every bucket in one statement: one grouped pass over each
// of objects (the covering index objects_list, ordered by bucket),
// narinfos (the covering index narinfos_sizes) and uploads.
var qUsage = query(`SELECT b.name, coalesce(o.n, 0), coalesce(o.bytes, 0), coalesce(n.paths, 0), coalesce(u.n, 0)
	FROM buckets b
	LEFT JOIN (SELECT bucket, count(*) AS n, sum(size) AS bytes FROM objects GROUP BY bucket) o ON o.bucket = b.name
	LEFT JOIN (SELECT bucket, count(*) AS paths FROM narinfos GROUP BY bucket) n ON n.bucket = b.name
	LEFT JOIN (SELECT bucket, count(*) AS n FROM uploads GROUP BY bucket) u ON u.bucket = b.name
	ORDER BY b.name`)

// Usage returns every bucket's totals (see meta.Usages).
func (s *Store) Usage(ctx context.Context) ([]meta.Usage, error) {
	rows, err := s.r.stmt(qUsage).QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sum buckets: %w", err)
	}
	defer rows.Close()
	var us []meta.Usage
	for rows.Next() {
		var u meta.Usage
		if err := rows.Scan(&u.Bucket, &u.Objects, &u.Bytes, &u.Paths, &u.Uploads); err != nil {
			return nil, fmt.Errorf("sum buckets: %w", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum buckets: %w", err)
	}
	return us, nil
}
