package sqlite

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var (
	qLifecycleRules = query(`SELECT id, enabled, prefix, abort_days, expiration_days
		FROM lifecycle_rules WHERE bucket = ? ORDER BY position`)
	qInsertLifecycleRule = query(`INSERT INTO lifecycle_rules
		(bucket, position, id, enabled, prefix, abort_days, expiration_days) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	qDeleteLifecycleRules = query(`DELETE FROM lifecycle_rules WHERE bucket = ?`)
)

// LifecycleRules returns the bucket's lifecycle rules in order, nil when
// none are set: meta.ErrNoSuchBucket.
func (s *Store) LifecycleRules(ctx context.Context, bucket string) ([]meta.LifecycleRule, error) {
	var rules []meta.LifecycleRule
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		rows, err := t.query(qLifecycleRules, bucket)
		if err != nil {
			return fmt.Errorf("list lifecycle rules of %q: %w", bucket, err)
		}
		defer rows.Close()
		for rows.Next() {
			var r meta.LifecycleRule
			if err := rows.Scan(&r.ID, &r.Enabled, &r.Prefix, &r.AbortUploadsDays, &r.ExpirationDays); err != nil {
				return fmt.Errorf("list lifecycle rules of %q: %w", bucket, err)
			}
			rules = append(rules, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list lifecycle rules of %q: %w", bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rules, nil
}

// SetLifecycleRules replaces the bucket's lifecycle rules; none removes
// them: meta.ErrNoSuchBucket.
func (s *Store) SetLifecycleRules(ctx context.Context, bucket string, rules []meta.LifecycleRule) error {
	for _, r := range rules {
		if err := meta.CheckKey(r.Prefix); err != nil {
			return fmt.Errorf("set lifecycle rules of %q: %w", bucket, err)
		}
	}
	return s.write(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		if _, err := t.exec(qDeleteLifecycleRules, bucket); err != nil {
			return fmt.Errorf("set lifecycle rules of %q: %w", bucket, err)
		}
		for i, r := range rules {
			if _, err := t.exec(qInsertLifecycleRule, bucket, i, r.ID, r.Enabled, r.Prefix, r.AbortUploadsDays, r.ExpirationDays); err != nil {
				return fmt.Errorf("set lifecycle rules of %q: %w", bucket, err)
			}
		}
		return nil
	})
}
