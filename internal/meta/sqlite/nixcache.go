package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// A bucket's cache settings and signing keys change rarely and are read on
// every nix-cache-info and narinfo write, so the server caches them as it
// caches identity data: their writes advance the generation (writeAnnounced).

var (
	// qCacheSettings tells a missing bucket (no row) from one without
	// settings (NULLs) in one lookup.
	qCacheSettings = query(`SELECT c.priority, c.want_mass_query, c.upstreams, c.upstream_keys,
		c.upstream_trust_any, c.upstream_negative_ttl_ms, c.upstream_max_conns, c.upstream_timeout_ms
		FROM buckets b LEFT JOIN cache_settings c ON c.bucket = b.name WHERE b.name = ?`)
	qPutCacheSettings = query(`INSERT INTO cache_settings (bucket, priority, want_mass_query,
		upstreams, upstream_keys, upstream_trust_any, upstream_negative_ttl_ms, upstream_max_conns, upstream_timeout_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (bucket) DO UPDATE SET priority = excluded.priority, want_mass_query = excluded.want_mass_query,
		upstreams = excluded.upstreams, upstream_keys = excluded.upstream_keys,
		upstream_trust_any = excluded.upstream_trust_any,
		upstream_negative_ttl_ms = excluded.upstream_negative_ttl_ms, upstream_max_conns = excluded.upstream_max_conns,
		upstream_timeout_ms = excluded.upstream_timeout_ms`)
	qDeleteCacheSettings = query(`DELETE FROM cache_settings WHERE bucket = ?`)

	qSigningKeys         = query(`SELECT name, secret, created FROM signing_keys WHERE bucket = ? ORDER BY name`)
	qSigningKeyExists    = query(`SELECT EXISTS (SELECT 1 FROM signing_keys WHERE bucket = ? AND name = ?)`)
	qInsertSigningKey    = query(`INSERT INTO signing_keys (bucket, name, secret, created) VALUES (?, ?, ?, ?)`)
	qDeleteSigningKey    = query(`DELETE FROM signing_keys WHERE bucket = ? AND name = ?`)
	qDeleteBucketSigKeys = query(`DELETE FROM signing_keys WHERE bucket = ?`)
)

// CacheSettings returns the bucket's settings, meta.DefaultCacheSettings
// until set: meta.ErrNoSuchBucket.
func (s *Store) CacheSettings(ctx context.Context, bucket string) (meta.CacheSettings, error) {
	var prio, ttl, conns, wait sql.NullInt64
	var mass, trustAny sql.NullBool
	var ups, keys sql.NullString
	err := s.r.stmt(qCacheSettings).QueryRowContext(ctx, bucket).Scan(&prio, &mass, &ups, &keys, &trustAny, &ttl, &conns, &wait)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.CacheSettings{}, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return meta.CacheSettings{}, fmt.Errorf("look up cache settings of %q: %w", bucket, err)
	}
	if !prio.Valid {
		return meta.DefaultCacheSettings, nil
	}
	return meta.CacheSettings{
		Priority: int(prio.Int64), WantMassQuery: mass.Bool,
		Upstreams: ups.String, UpstreamKeys: keys.String, UpstreamTrustAny: trustAny.Bool,
		UpstreamNegativeTTL: time.Duration(ttl.Int64) * time.Millisecond, UpstreamMaxConns: int(conns.Int64),
		UpstreamTimeout: time.Duration(wait.Int64) * time.Millisecond,
	}, nil
}

// SetCacheSettings stores the bucket's settings: meta.ErrNoSuchBucket. It
// advances the generation.
func (s *Store) SetCacheSettings(ctx context.Context, bucket string, cs meta.CacheSettings) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		if _, err := t.exec(qPutCacheSettings, bucket, cs.Priority, cs.WantMassQuery,
			cs.Upstreams, cs.UpstreamKeys, cs.UpstreamTrustAny, cs.UpstreamNegativeTTL.Milliseconds(), cs.UpstreamMaxConns, cs.UpstreamTimeout.Milliseconds()); err != nil {
			return fmt.Errorf("set cache settings of %q: %w", bucket, err)
		}
		return nil
	})
}

// SigningKeys returns the bucket's signing keys sorted by name:
// meta.ErrNoSuchBucket.
func (s *Store) SigningKeys(ctx context.Context, bucket string) ([]meta.SigningKey, error) {
	var ks []meta.SigningKey
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		rows, err := t.query(qSigningKeys, bucket)
		if err != nil {
			return fmt.Errorf("list signing keys of %q: %w", bucket, err)
		}
		defer rows.Close()
		for rows.Next() {
			k := meta.SigningKey{Bucket: bucket}
			var created int64
			if err := rows.Scan(&k.Name, &k.Secret, &created); err != nil {
				return fmt.Errorf("list signing keys of %q: %w", bucket, err)
			}
			k.Created = fromNanos(created)
			ks = append(ks, k)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list signing keys of %q: %w", bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ks, nil
}

// AddSigningKey stores a new signing key, its secret as given:
// meta.ErrNoSuchBucket, meta.ErrSigningKeyExists. An empty name or secret
// is an error. It advances the generation.
func (s *Store) AddSigningKey(ctx context.Context, k meta.SigningKey) error {
	if k.Name == "" || k.Secret == "" {
		return fmt.Errorf("add signing key %q to %q: empty name or secret", k.Name, k.Bucket)
	}
	return s.writeAnnounced(ctx, func(t *txn) error {
		if err := t.needBucket(k.Bucket); err != nil {
			return err
		}
		ok, err := t.exists(qSigningKeyExists, k.Bucket, k.Name)
		if err != nil {
			return fmt.Errorf("look up signing key %q of %q: %w", k.Name, k.Bucket, err)
		}
		if ok {
			return fmt.Errorf("add signing key %q to %q: %w", k.Name, k.Bucket, meta.ErrSigningKeyExists)
		}
		if _, err := t.exec(qInsertSigningKey, k.Bucket, k.Name, k.Secret, nanos(k.Created)); err != nil {
			return fmt.Errorf("add signing key %q to %q: %w", k.Name, k.Bucket, err)
		}
		return nil
	})
}

// RemoveSigningKey deletes a signing key: meta.ErrNoSuchSigningKey, also
// when the bucket is missing. It advances the generation.
func (s *Store) RemoveSigningKey(ctx context.Context, bucket, name string) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		n, err := affected(t.exec(qDeleteSigningKey, bucket, name))
		if err != nil {
			return fmt.Errorf("remove signing key %q of %q: %w", name, bucket, err)
		}
		if n == 0 {
			return fmt.Errorf("remove signing key %q of %q: %w", name, bucket, meta.ErrNoSuchSigningKey)
		}
		return nil
	})
}

// deleteBucketNix removes the bucket's narinfo records, cache settings,
// signing keys, pins, lifecycle rules and retention, for DeleteBucket. (An empty bucket has no records; the
// delete keeps the foreign key satisfied should one be left.)
func (t *txn) deleteBucketNix(bucket string) error {
	for _, q := range []string{qDeleteBktPins, qDeleteBucketNarinfos, qDeleteCacheSettings, qDeleteBucketSigKeys, qDeleteLifecycleRules, qDeleteRetention} {
		if _, err := t.exec(q, bucket); err != nil {
			return fmt.Errorf("delete bucket %q: %w", bucket, err)
		}
	}
	return nil
}
