package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// LifecycleRules returns the bucket's lifecycle rules in order, nil when
// none are set: meta.ErrNoSuchBucket.
func (s *Store) LifecycleRules(ctx context.Context, bucket string) ([]meta.LifecycleRule, error) {
	if invalidName(bucket) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, enabled, prefix, abort_days, expiration_days
		FROM lifecycle_rules WHERE bucket = $1 ORDER BY position`, bucket)
	if err != nil {
		return nil, fmt.Errorf("list lifecycle rules of %q: %w", bucket, err)
	}
	rules, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.LifecycleRule, error) {
		var lr meta.LifecycleRule
		var abort, expire int32
		err := r.Scan(&lr.ID, &lr.Enabled, &lr.Prefix, &abort, &expire)
		lr.AbortUploadsDays, lr.ExpirationDays = int(abort), int(expire)
		return lr, err
	})
	if err != nil {
		return nil, fmt.Errorf("list lifecycle rules of %q: %w", bucket, err)
	}
	if len(rules) == 0 {
		return nil, needBucket(ctx, s.pool, bucket)
	}
	return rules, nil
}

// SetLifecycleRules replaces the bucket's lifecycle rules; none removes
// them: meta.ErrNoSuchBucket.
func (s *Store) SetLifecycleRules(ctx context.Context, bucket string, rules []meta.LifecycleRule) error {
	for _, r := range rules {
		if err := meta.CheckKey(r.Prefix + r.ID); err != nil {
			return fmt.Errorf("set lifecycle rules of %q: %w", bucket, err)
		}
	}
	if invalidName(bucket) {
		return fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, bucket); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM lifecycle_rules WHERE bucket = $1`, bucket); err != nil {
			return fmt.Errorf("set lifecycle rules of %q: %w", bucket, err)
		}
		for i, r := range rules {
			if _, err := tx.Exec(ctx, `INSERT INTO lifecycle_rules
				(bucket, position, id, enabled, prefix, abort_days, expiration_days) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				bucket, i, r.ID, r.Enabled, r.Prefix, r.AbortUploadsDays, r.ExpirationDays); err != nil {
				return fmt.Errorf("set lifecycle rules of %q: %w", bucket, err)
			}
		}
		return nil
	})
}
