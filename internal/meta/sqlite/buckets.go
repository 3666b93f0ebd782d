package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var (
	qBucketExists = query(`SELECT EXISTS (SELECT 1 FROM buckets WHERE name = ?)`)
	qBucket       = query(`SELECT created FROM buckets WHERE name = ?`)
	qBuckets      = query(`SELECT name, created FROM buckets ORDER BY name`)
	qInsertBucket = query(`INSERT INTO buckets (name, created) VALUES (?, ?)`)
	qDeleteBucket = query(`DELETE FROM buckets WHERE name = ?`)
	qBucketHasObj = query(`SELECT EXISTS (SELECT 1 FROM objects WHERE bucket = ?)`)
	qBucketHasUpl = query(`SELECT EXISTS (SELECT 1 FROM uploads WHERE bucket = ?)`)
)

// exists runs a SELECT EXISTS query.
func (t *txn) exists(q string, args ...any) (bool, error) {
	var ok bool
	if err := t.queryRow(q, args...).Scan(&ok); err != nil {
		return false, err
	}
	return ok, nil
}

// needBucket returns a wrapped meta.ErrNoSuchBucket unless the bucket exists.
func (t *txn) needBucket(name string) error {
	ok, err := t.exists(qBucketExists, name)
	if err != nil {
		return fmt.Errorf("look up bucket %q: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("bucket %q: %w", name, meta.ErrNoSuchBucket)
	}
	return nil
}

// CreateBucket creates a bucket; meta.ErrBucketExists if it exists. It
// advances the generation: BucketPolicy's answer for the name changes.
func (s *Store) CreateBucket(ctx context.Context, b meta.Bucket) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		ok, err := t.exists(qBucketExists, b.Name)
		if err != nil {
			return fmt.Errorf("look up bucket %q: %w", b.Name, err)
		}
		if ok {
			return fmt.Errorf("create bucket %q: %w", b.Name, meta.ErrBucketExists)
		}
		if _, err := t.exec(qInsertBucket, b.Name, nanos(b.Created)); err != nil {
			return fmt.Errorf("create bucket %q: %w", b.Name, err)
		}
		return nil
	})
}

// Bucket returns the bucket's record; meta.ErrNoSuchBucket if missing.
func (s *Store) Bucket(ctx context.Context, name string) (meta.Bucket, error) {
	var created int64
	err := s.r.stmt(qBucket).QueryRowContext(ctx, name).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.Bucket{}, fmt.Errorf("bucket %q: %w", name, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return meta.Bucket{}, fmt.Errorf("look up bucket %q: %w", name, err)
	}
	return meta.Bucket{Name: name, Created: fromNanos(created)}, nil
}

// Buckets returns all buckets sorted by name.
func (s *Store) Buckets(ctx context.Context) ([]meta.Bucket, error) {
	rows, err := s.r.stmt(qBuckets).QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	defer rows.Close()
	var bs []meta.Bucket
	for rows.Next() {
		var b meta.Bucket
		var created int64
		if err := rows.Scan(&b.Name, &created); err != nil {
			return nil, fmt.Errorf("list buckets: %w", err)
		}
		b.Created = fromNanos(created)
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return bs, nil
}

// DeleteBucket deletes an empty bucket with its policy, cache settings,
// signing keys and lifecycle rules: meta.ErrNoSuchBucket,
// meta.ErrBucketNotEmpty while it holds objects or uploads.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		if err := t.needBucket(name); err != nil {
			return err
		}
		for _, q := range []string{qBucketHasObj, qBucketHasUpl} {
			full, err := t.exists(q, name)
			if err != nil {
				return fmt.Errorf("delete bucket %q: %w", name, err)
			}
			if full {
				return fmt.Errorf("delete bucket %q: %w", name, meta.ErrBucketNotEmpty)
			}
		}
		if err := t.deleteBucketNix(name); err != nil {
			return err
		}
		if _, err := t.exec(qDeleteBucketPolicy, name); err != nil {
			return fmt.Errorf("delete bucket %q: %w", name, err)
		}
		if _, err := t.exec(qDeleteBucket, name); err != nil {
			return fmt.Errorf("delete bucket %q: %w", name, err)
		}
		return nil
	})
}
