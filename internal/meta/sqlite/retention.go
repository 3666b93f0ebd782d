package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

var _ meta.GC = (*Store)(nil)

var (
	// qRetention tells a missing bucket (no row) from one without a
	// policy (NULLs) in one lookup.
	qRetention = query(`SELECT r.keep_days, r.max_size, r.gc, r.grace
		FROM buckets b LEFT JOIN retention r ON r.bucket = b.name WHERE b.name = ?`)
	qPutRetention = query(`INSERT INTO retention (bucket, keep_days, max_size, gc, grace) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (bucket) DO UPDATE SET keep_days = excluded.keep_days, max_size = excluded.max_size,
		gc = excluded.gc, grace = excluded.grace`)
	qDeleteRetention  = query(`DELETE FROM retention WHERE bucket = ?`)
	qScanNarinfoEdges = query(`SELECT hash, url, deriver, file_size, created, last_access, refs
		FROM narinfos WHERE bucket = ? AND hash > ? ORDER BY hash LIMIT ?`)
)

// Retention returns the bucket's policy, meta.DefaultRetention until set:
// meta.ErrNoSuchBucket.
func (s *Store) Retention(ctx context.Context, bucket string) (meta.Retention, error) {
	var keep, size, grace sql.NullInt64
	var gc sql.NullBool
	err := s.r.stmt(qRetention).QueryRowContext(ctx, bucket).Scan(&keep, &size, &gc, &grace)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.Retention{}, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return meta.Retention{}, fmt.Errorf("look up retention of %q: %w", bucket, err)
	}
	if !keep.Valid {
		return meta.DefaultRetention, nil
	}
	return meta.Retention{KeepDays: int(keep.Int64), MaxSize: size.Int64, GC: gc.Bool, Grace: time.Duration(grace.Int64)}, nil
}

// SetRetention stores the bucket's policy: meta.ErrNoSuchBucket.
func (s *Store) SetRetention(ctx context.Context, bucket string, r meta.Retention) error {
	return s.write(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		if _, err := t.exec(qPutRetention, bucket, r.KeepDays, r.MaxSize, r.GC, int64(r.Grace)); err != nil {
			return fmt.Errorf("set retention of %q: %w", bucket, err)
		}
		return nil
	})
}

// ScanNarinfoEdges returns a page of the bucket's index in hash order, reading
// only the columns a collector needs: meta.ErrNoSuchBucket.
func (s *Store) ScanNarinfoEdges(ctx context.Context, bucket, after string, limit int) ([]meta.NarinfoEdge, error) {
	if limit < 1 {
		limit = 1
	}
	var out []meta.NarinfoEdge
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		rows, err := t.query(qScanNarinfoEdges, bucket, after, limit)
		if err != nil {
			return fmt.Errorf("scan narinfos of %q: %w", bucket, err)
		}
		defer rows.Close()
		out = make([]meta.NarinfoEdge, 0, limit)
		for rows.Next() {
			var e meta.NarinfoEdge
			var created, last int64
			var refs string
			if err := rows.Scan(&e.Hash, &e.URL, &e.Deriver, &e.FileSize, &created, &last, &refs); err != nil {
				return fmt.Errorf("scan narinfos of %q: %w", bucket, err)
			}
			e.Created, e.LastAccess = fromNanos(created), fromNanos(last)
			if e.References, err = metaenc.DecodeStrings(refs); err != nil {
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
