package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
)

const (
	qBucketExists = `SELECT EXISTS (SELECT 1 FROM buckets WHERE name = $1)`
	qBucketHasObj = `SELECT EXISTS (SELECT 1 FROM objects WHERE bucket = $1)`
	qBucketHasUpl = `SELECT EXISTS (SELECT 1 FROM uploads WHERE bucket = $1)`
)

// needBucket returns a wrapped meta.ErrNoSuchBucket unless the bucket exists.
func needBucket(ctx context.Context, q querier, name string) error {
	ok, err := exists(ctx, q, qBucketExists, name)
	if err != nil {
		return fmt.Errorf("look up bucket %q: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("bucket %q: %w", name, meta.ErrNoSuchBucket)
	}
	return nil
}

// CreateBucket creates a bucket: meta.ErrBucketExists. It advances the
// generation: BucketPolicy's answer for the name changes.
func (s *Store) CreateBucket(ctx context.Context, b meta.Bucket) error {
	if err := meta.CheckKey(b.Name); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO buckets (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			b.Name, micros(b.Created))
		if err != nil {
			return fmt.Errorf("create bucket %q: %w", b.Name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("create bucket %q: %w", b.Name, meta.ErrBucketExists)
		}
		return nil
	})
}

// Bucket returns the bucket's record: meta.ErrNoSuchBucket.
func (s *Store) Bucket(ctx context.Context, name string) (meta.Bucket, error) {
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT created FROM buckets WHERE name = $1`, name).Scan(&created)
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.Bucket{}, fmt.Errorf("bucket %q: %w", name, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return meta.Bucket{}, fmt.Errorf("look up bucket %q: %w", name, err)
	}
	return meta.Bucket{Name: name, Created: fromMicros(created)}, nil
}

// Buckets returns all buckets sorted by name.
func (s *Store) Buckets(ctx context.Context) ([]meta.Bucket, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, created FROM buckets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Bucket, error) {
		var b meta.Bucket
		var created int64
		err := r.Scan(&b.Name, &created)
		b.Created = fromMicros(created)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return bs, nil
}

// DeleteBucket deletes an empty bucket with its policy, cache settings,
// signing keys, pins and lifecycle rules: meta.ErrNoSuchBucket,
// meta.ErrBucketNotEmpty while it holds objects or uploads. A concurrent
// put into the bucket on another node either commits first (and the
// bucket is not empty) or fails on the missing bucket.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, name); err != nil {
			return err
		}
		for _, q := range []string{qBucketHasObj, qBucketHasUpl} {
			full, err := exists(ctx, tx, q, name)
			if err != nil {
				return fmt.Errorf("delete bucket %q: %w", name, err)
			}
			if full {
				return fmt.Errorf("delete bucket %q: %w", name, meta.ErrBucketNotEmpty)
			}
		}
		for _, table := range []string{"pins", "narinfos", "cache_settings", "signing_keys", "lifecycle_rules", "retention", "bucket_policies"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE bucket = $1`, name); err != nil {
				return fmt.Errorf("delete bucket %q: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM buckets WHERE name = $1`, name); err != nil {
			return fmt.Errorf("delete bucket %q: %w", name, err)
		}
		return nil
	})
}
