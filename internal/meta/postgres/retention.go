package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

var _ meta.GC = (*Store)(nil)

// Retention returns the bucket's policy, meta.DefaultRetention until set:
// meta.ErrNoSuchBucket.
func (s *Store) Retention(ctx context.Context, bucket string) (meta.Retention, error) {
	if invalidName(bucket) {
		return meta.Retention{}, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	var keep, size, grace *int64
	var gc *bool
	err := s.pool.QueryRow(ctx, `SELECT r.keep_days, r.max_size, r.gc, r.grace
		FROM buckets b LEFT JOIN retention r ON r.bucket = b.name WHERE b.name = $1`, bucket).Scan(&keep, &size, &gc, &grace)
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.Retention{}, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return meta.Retention{}, fmt.Errorf("look up retention of %q: %w", bucket, err)
	}
	if keep == nil {
		return meta.DefaultRetention, nil
	}
	return meta.Retention{KeepDays: int(*keep), MaxSize: *size, GC: *gc, Grace: time.Duration(*grace)}, nil
}

// SetRetention stores the bucket's policy: meta.ErrNoSuchBucket.
func (s *Store) SetRetention(ctx context.Context, bucket string, r meta.Retention) error {
	if invalidName(bucket) {
		return fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, bucket); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO retention (bucket, keep_days, max_size, gc, grace) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (bucket) DO UPDATE SET keep_days = excluded.keep_days, max_size = excluded.max_size,
			gc = excluded.gc, grace = excluded.grace`, bucket, r.KeepDays, r.MaxSize, r.GC, int64(r.Grace)); err != nil {
			return fmt.Errorf("set retention of %q: %w", bucket, err)
		}
		return nil
	})
}

// ScanNarinfoEdges returns a page of the bucket's index in hash order,
// reading only the columns a collector needs, in one snapshot:
// meta.ErrNoSuchBucket.
func (s *Store) ScanNarinfoEdges(ctx context.Context, bucket, after string, limit int) ([]meta.NarinfoEdge, error) {
	limit = max(limit, 1)
	if invalidName(bucket) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	var out []meta.NarinfoEdge
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, bucket); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT hash, url, deriver, file_size, created, last_access, refs
			FROM narinfos WHERE bucket = $1 AND hash > $2 ORDER BY hash LIMIT $3`, bucket, after, limit)
		if err != nil {
			return fmt.Errorf("scan narinfos of %q: %w", bucket, err)
		}
		defer rows.Close()
		out = make([]meta.NarinfoEdge, 0, min(limit, 4096))
		for rows.Next() {
			var e meta.NarinfoEdge
			var created, last int64
			var refs []byte
			if err := rows.Scan(&e.Hash, &e.URL, &e.Deriver, &e.FileSize, &created, &last, &refs); err != nil {
				return fmt.Errorf("scan narinfos of %q: %w", bucket, err)
			}
			e.Created, e.LastAccess = fromMicros(created), fromMicros(last)
			if e.References, err = metaenc.DecodeStrings(string(refs)); err != nil {
				return fmt.Errorf("narinfo %q/%q references: %w", bucket, e.Hash, err)
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
