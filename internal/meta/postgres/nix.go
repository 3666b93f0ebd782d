package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// The narinfo index, kept by the object writes in their transaction (see
// the SQLite store's nix.go), cache settings and signing keys. Settings
// and keys are cached by the servers as identity data is: their writes
// are announced.

var _ meta.Nix = (*Store)(nil)

// narinfoSuffix ends the key of every narinfo object.
const narinfoSuffix = ".narinfo"

const narinfoCols = `file_size, nar_size, created, last_access, store_path, url, compression,
	file_hash, nar_hash, deriver, ca, refs, sigs`

// indexObject keeps the narinfo index in step with a write of
// (bucket, key): it stores n as the key's record, or with n nil removes
// the key's record. Keys that are not narinfos have none, and may not be
// given one.
func indexObject(ctx context.Context, tx pgx.Tx, bucket, key string, n *meta.Narinfo) error {
	sql, args, err := indexStmt(bucket, key, n)
	if err != nil || sql == "" {
		return err
	}
	if guard, gargs := guardStmt(bucket, n); guard != "" {
		if _, err := tx.Exec(ctx, guard, gargs...); err != nil {
			return fmt.Errorf("index narinfo %q/%q: %w", bucket, key, guardErr(err))
		}
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		if n == nil {
			return fmt.Errorf("unindex narinfo %q/%q: %w", bucket, key, err)
		}
		return fmt.Errorf("index narinfo %q/%q: %w", bucket, key, err)
	}
	return nil
}

// indexedKey returns the hash of a narinfo key, whose writes keep the
// index (indexStmt has a statement for it).
func indexedKey(key string) (string, bool) {
	return strings.CutSuffix(key, narinfoSuffix)
}

// indexStmt is indexObject's statement and arguments, "" for a key
// without an index record, for callers that batch it (putpipe.go).
func indexStmt(bucket, key string, n *meta.Narinfo) (string, []any, error) {
	hash, ok := indexedKey(key)
	if n != nil && (!ok || n.Hash != hash) {
		return "", nil, fmt.Errorf("index narinfo %q/%q: the record is for %q%s", bucket, key, n.Hash, narinfoSuffix)
	}
	if !ok {
		return "", nil, nil
	}
	if n == nil {
		return `DELETE FROM narinfos WHERE bucket = $1 AND hash = $2`, []any{bucket, hash}, nil
	}
	// Its references are in use from now on (see meta.ReferencedHashes):
	// one statement, so callers that batch it count one result.
	return `WITH used AS (UPDATE narinfos SET last_access = $3
			WHERE bucket = $1 AND hash = ANY ($16::text[]) AND last_access < $17)
		INSERT INTO narinfos (bucket, hash, ` + narinfoCols + `)
		VALUES ($1, $2, $4, $5, $3, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (bucket, hash) DO UPDATE SET file_size = excluded.file_size, nar_size = excluded.nar_size,
			created = excluded.created, last_access = excluded.last_access, store_path = excluded.store_path,
			url = excluded.url, compression = excluded.compression, file_hash = excluded.file_hash,
			nar_hash = excluded.nar_hash, deriver = excluded.deriver, ca = excluded.ca,
			refs = excluded.refs, sigs = excluded.sigs`,
		[]any{bucket, hash, micros(n.Created), n.FileSize, n.NarSize, micros(n.LastAccess), n.StorePath, n.URL,
			n.Compression, n.FileHash, n.NarHash, n.Deriver, n.CA, metaenc.EncodeStrings(n.References), metaenc.EncodeStrings(n.Sigs),
			referenced(n), micros(n.Created.Add(-meta.UseSlack))}, nil
}

// Narinfo returns the index record of bucket's <hash>.narinfo:
// meta.ErrNoSuchKey, also when the bucket is missing.
func (s *Store) Narinfo(ctx context.Context, bucket, hash string) (meta.Narinfo, error) {
	return narinfoOf(ctx, s.pool, bucket, hash)
}

// Narinfos returns the records of those of hashes the bucket's index
// holds, in one query.
func (s *Store) Narinfos(ctx context.Context, bucket string, hashes []string) ([]meta.Narinfo, error) {
	var valid []string
	for _, h := range hashes {
		if !invalidName(h) {
			valid = append(valid, h)
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT hash, `+narinfoCols+` FROM narinfos
		WHERE bucket = $1 AND hash = ANY ($2::text[])`, bucket, valid)
	if err != nil {
		return nil, fmt.Errorf("look up narinfos of %q: %w", bucket, err)
	}
	return narinfoRows(rows, bucket)
}

// narinfoRows reads the bucket's records from rows of hash and
// narinfoCols, and closes them.
func narinfoRows(rows pgx.Rows, bucket string) ([]meta.Narinfo, error) {
	defer rows.Close()
	var out []meta.Narinfo
	for rows.Next() {
		n := meta.Narinfo{Bucket: bucket}
		var created, lastAccess int64
		var refs, sigs []byte
		if err := rows.Scan(&n.Hash, &n.FileSize, &n.NarSize, &created, &lastAccess, &n.StorePath, &n.URL,
			&n.Compression, &n.FileHash, &n.NarHash, &n.Deriver, &n.CA, &refs, &sigs); err != nil {
			return nil, fmt.Errorf("read narinfos of %q: %w", bucket, err)
		}
		n.Created, n.LastAccess = fromMicros(created), fromMicros(lastAccess)
		var err error
		if n.References, err = metaenc.DecodeStrings(string(refs)); err != nil {
			return nil, fmt.Errorf("narinfo %q/%q references: %w", bucket, n.Hash, err)
		}
		if n.Sigs, err = metaenc.DecodeStrings(string(sigs)); err != nil {
			return nil, fmt.Errorf("narinfo %q/%q signatures: %w", bucket, n.Hash, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read narinfos of %q: %w", bucket, err)
	}
	return out, nil
}

// narinfoOf is Narinfo, read through q (the pool or a transaction).
func narinfoOf(ctx context.Context, q querier, bucket, hash string) (meta.Narinfo, error) {
	n := meta.Narinfo{Bucket: bucket, Hash: hash}
	var created, lastAccess int64
	var refs, sigs []byte
	err := pgx.ErrNoRows
	if !invalidName(hash) {
		err = q.QueryRow(ctx, `SELECT `+narinfoCols+` FROM narinfos WHERE bucket = $1 AND hash = $2`, bucket, hash).
			Scan(&n.FileSize, &n.NarSize, &created, &lastAccess, &n.StorePath, &n.URL,
				&n.Compression, &n.FileHash, &n.NarHash, &n.Deriver, &n.CA, &refs, &sigs)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.Narinfo{}, fmt.Errorf("narinfo %q/%q: %w", bucket, hash, meta.ErrNoSuchKey)
	}
	if err != nil {
		return meta.Narinfo{}, fmt.Errorf("look up narinfo %q/%q: %w", bucket, hash, err)
	}
	n.Created, n.LastAccess = fromMicros(created), fromMicros(lastAccess)
	if n.References, err = metaenc.DecodeStrings(string(refs)); err != nil {
		return meta.Narinfo{}, fmt.Errorf("narinfo %q/%q references: %w", bucket, hash, err)
	}
	if n.Sigs, err = metaenc.DecodeStrings(string(sigs)); err != nil {
		return meta.Narinfo{}, fmt.Errorf("narinfo %q/%q signatures: %w", bucket, hash, err)
	}
	return n, nil
}

// withNarinfo gives cur, a narinfo object, its index record, as meta.Check
// promises; other objects, and nil, are left as they are.
func withNarinfo(ctx context.Context, q querier, cur *meta.Object) error {
	if cur == nil {
		return nil
	}
	hash, ok := indexedKey(cur.Key)
	if !ok {
		return nil
	}
	n, err := narinfoOf(ctx, q, cur.Bucket, hash)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return nil
	}
	if err != nil {
		return err
	}
	cur.Narinfo = &n
	return nil
}

// CacheStats counts the bucket's indexed narinfos and sums their sizes:
// meta.ErrNoSuchBucket.
func (s *Store) CacheStats(ctx context.Context, bucket string) (meta.CacheStats, error) {
	var st meta.CacheStats
	var found bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM buckets WHERE name = $1), count(*),
		coalesce(sum(nar_size), 0)::bigint, coalesce(sum(file_size), 0)::bigint
		FROM narinfos WHERE bucket = $1`, bucket).Scan(&found, &st.Paths, &st.NarBytes, &st.FileBytes)
	if err != nil {
		return meta.CacheStats{}, fmt.Errorf("sum narinfos of %q: %w", bucket, err)
	}
	if !found {
		return meta.CacheStats{}, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	return st, nil
}

// TouchNarinfos sets the last-access time of the bucket's records for the
// given hashes, in one statement. Hashes without a record, and a missing
// bucket, are skipped. It does not advance the generation.
func (s *Store) TouchNarinfos(ctx context.Context, bucket string, hashes []string, at time.Time) error {
	var valid []string
	for _, h := range hashes {
		if !invalidName(h) {
			valid = append(valid, h)
		}
	}
	if len(valid) == 0 {
		return nil
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE narinfos SET last_access = $1 WHERE bucket = $2 AND hash = ANY ($3::text[])`,
			micros(at), bucket, valid); err != nil {
			return fmt.Errorf("touch narinfos of %q: %w", bucket, err)
		}
		return nil
	})
}

// CacheSettings returns the bucket's settings, meta.DefaultCacheSettings
// until set: meta.ErrNoSuchBucket.
func (s *Store) CacheSettings(ctx context.Context, bucket string) (meta.CacheSettings, error) {
	var prio, ttl, conns, wait *int64
	var mass, trustAny *bool
	var ups, keys *string
	err := pgx.ErrNoRows
	if !invalidName(bucket) {
		err = s.pool.QueryRow(ctx, `SELECT c.priority, c.want_mass_query, c.upstreams, c.upstream_keys,
			c.upstream_trust_any, c.upstream_negative_ttl_ms, c.upstream_max_conns, c.upstream_timeout_ms
			FROM buckets b LEFT JOIN cache_settings c ON c.bucket = b.name WHERE b.name = $1`, bucket).Scan(&prio, &mass, &ups, &keys, &trustAny, &ttl, &conns, &wait)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.CacheSettings{}, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return meta.CacheSettings{}, fmt.Errorf("look up cache settings of %q: %w", bucket, err)
	}
	if prio == nil {
		return meta.DefaultCacheSettings, nil
	}
	return meta.CacheSettings{
		Priority: int(*prio), WantMassQuery: *mass,
		Upstreams: *ups, UpstreamKeys: *keys, UpstreamTrustAny: *trustAny,
		UpstreamNegativeTTL: time.Duration(*ttl) * time.Millisecond, UpstreamMaxConns: int(*conns),
		UpstreamTimeout: time.Duration(*wait) * time.Millisecond,
	}, nil
}

// SetCacheSettings stores the bucket's settings: meta.ErrNoSuchBucket. It
// advances the generation.
func (s *Store) SetCacheSettings(ctx context.Context, bucket string, cs meta.CacheSettings) error {
	if invalidName(bucket) {
		return fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, bucket); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO cache_settings (bucket, priority, want_mass_query,
			upstreams, upstream_keys, upstream_trust_any, upstream_negative_ttl_ms, upstream_max_conns, upstream_timeout_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (bucket) DO UPDATE SET priority = excluded.priority, want_mass_query = excluded.want_mass_query,
			upstreams = excluded.upstreams, upstream_keys = excluded.upstream_keys,
			upstream_trust_any = excluded.upstream_trust_any,
			upstream_negative_ttl_ms = excluded.upstream_negative_ttl_ms, upstream_max_conns = excluded.upstream_max_conns,
			upstream_timeout_ms = excluded.upstream_timeout_ms`,
			bucket, cs.Priority, cs.WantMassQuery, cs.Upstreams, cs.UpstreamKeys, cs.UpstreamTrustAny,
			cs.UpstreamNegativeTTL.Milliseconds(), cs.UpstreamMaxConns, cs.UpstreamTimeout.Milliseconds()); err != nil {
			return fmt.Errorf("set cache settings of %q: %w", bucket, err)
		}
		return nil
	})
}

// SigningKeys returns the bucket's signing keys sorted by name:
// meta.ErrNoSuchBucket.
func (s *Store) SigningKeys(ctx context.Context, bucket string) ([]meta.SigningKey, error) {
	if invalidName(bucket) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	rows, err := s.pool.Query(ctx, `SELECT name, secret, created FROM signing_keys WHERE bucket = $1 ORDER BY name`, bucket)
	if err != nil {
		return nil, fmt.Errorf("list signing keys of %q: %w", bucket, err)
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.SigningKey, error) {
		k := meta.SigningKey{Bucket: bucket}
		var created int64
		err := r.Scan(&k.Name, &k.Secret, &created)
		k.Created = fromMicros(created)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list signing keys of %q: %w", bucket, err)
	}
	if len(ks) == 0 {
		return nil, needBucket(ctx, s.pool, bucket)
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
	if err := meta.CheckKey(k.Name + k.Secret); err != nil {
		return fmt.Errorf("add signing key to %q: %w", k.Bucket, err)
	}
	if invalidName(k.Bucket) {
		return fmt.Errorf("bucket %q: %w", k.Bucket, meta.ErrNoSuchBucket)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, k.Bucket); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO signing_keys (bucket, name, secret, created) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, k.Bucket, k.Name, k.Secret, micros(k.Created))
		if err != nil {
			return fmt.Errorf("add signing key %q to %q: %w", k.Name, k.Bucket, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("add signing key %q to %q: %w", k.Name, k.Bucket, meta.ErrSigningKeyExists)
		}
		return nil
	})
}

// RemoveSigningKey deletes a signing key: meta.ErrNoSuchSigningKey, also
// when the bucket is missing. It advances the generation.
func (s *Store) RemoveSigningKey(ctx context.Context, bucket, name string) error {
	return s.announcedUpdate(ctx, fmt.Sprintf("remove signing key %q of %q", name, bucket), meta.ErrNoSuchSigningKey,
		invalidName(bucket+name), `DELETE FROM signing_keys WHERE bucket = $1 AND name = $2`, bucket, name)
}

// ScanNarinfos returns a page of the bucket's records in hash order, read
// in one snapshot: meta.ErrNoSuchBucket.
func (s *Store) ScanNarinfos(ctx context.Context, bucket, after string, limit int) ([]meta.Narinfo, error) {
	limit = max(limit, 1)
	var out []meta.Narinfo
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, bucket); err != nil {
			return err
		}
		var err error
		if out, err = queryNarinfos(ctx, tx, bucket, `SELECT hash, `+narinfoCols+` FROM narinfos
			WHERE bucket = $1 AND hash > $2 ORDER BY hash LIMIT $3`, bucket, after, limit); err != nil {
			return fmt.Errorf("scan narinfos of %q: %w", bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// referenced is meta.ReferencedHashes as a non-nil array parameter.
func referenced(n *meta.Narinfo) []string {
	if hs := meta.ReferencedHashes(n); hs != nil {
		return hs
	}
	return []string{}
}
