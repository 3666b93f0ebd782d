package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// The narinfo index.
//
// The object writes keep it, in their own transaction, so that it never
// disagrees with the objects: putObject upserts the record a narinfo
// object carries and removes the record of a narinfo key written without
// one, and DeleteObject removes the key's record. A write whose check
// fails, or that fails later, leaves the index as it found it, with the
// rest of its transaction (or savepoint, in a group commit).

var _ meta.Nix = (*Store)(nil)

// narinfoSuffix ends the key of every narinfo object.
const narinfoSuffix = ".narinfo"

// narinfoCols are the narinfos columns a Narinfo is read from, in
// narinfoRow.dest order.
const narinfoCols = `file_size, nar_size, created, last_access, store_path, url, compression,
	file_hash, nar_hash, deriver, ca, refs, sigs`

var (
	qNarinfo    = query(`SELECT ` + narinfoCols + ` FROM narinfos WHERE bucket = ? AND hash = ?`)
	qPutNarinfo = query(`INSERT OR REPLACE INTO narinfos (bucket, hash, ` + narinfoCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	qDeleteNarinfo        = query(`DELETE FROM narinfos WHERE bucket = ? AND hash = ?`)
	qDeleteBucketNarinfos = query(`DELETE FROM narinfos WHERE bucket = ?`)
	qTouchNarinfo         = query(`UPDATE narinfos SET last_access = ? WHERE bucket = ? AND hash = ?`)
	qUseNarinfo           = query(`UPDATE narinfos SET last_access = ?1 WHERE bucket = ?2 AND hash = ?3 AND last_access < ?4`)
	qCacheStats           = query(`SELECT count(*), coalesce(sum(nar_size), 0), coalesce(sum(file_size), 0)
		FROM narinfos WHERE bucket = ?`)
)

// narinfoHash returns the store path hash a narinfo key names, the key
// without its ".narinfo"; ok is false for other keys.
func narinfoHash(key string) (hash string, ok bool) {
	return strings.CutSuffix(key, narinfoSuffix)
}

// indexObject keeps the narinfo index in step with a write of
// (bucket, key): it stores n as the key's record, or with n nil removes
// the key's record. Keys that are not narinfos have none, and may not be
// given one.
func (t *txn) indexObject(bucket, key string, n *meta.Narinfo) error {
	hash, ok := narinfoHash(key)
	if n != nil && (!ok || n.Hash != hash) {
		return fmt.Errorf("index narinfo %q/%q: the record is for %q%s", bucket, key, n.Hash, narinfoSuffix)
	}
	if !ok {
		return nil
	}
	if n == nil {
		if _, err := t.exec(qDeleteNarinfo, bucket, hash); err != nil {
			return fmt.Errorf("unindex narinfo %q/%q: %w", bucket, key, err)
		}
		return nil
	}
	if err := t.guardNAR(bucket, n); err != nil {
		return err
	}
	if _, err := t.exec(qPutNarinfo, bucket, hash, n.FileSize, n.NarSize, nanos(n.Created),
		nanos(n.LastAccess), n.StorePath, n.URL, n.Compression, n.FileHash, n.NarHash, n.Deriver,
		n.CA, metaenc.EncodeStrings(n.References), metaenc.EncodeStrings(n.Sigs)); err != nil {
		return fmt.Errorf("index narinfo %q/%q: %w", bucket, key, err)
	}
	// Its references are in use from now on (see meta.ReferencedHashes).
	for _, h := range meta.ReferencedHashes(n) {
		if _, err := t.exec(qUseNarinfo, nanos(n.Created), bucket, h, nanos(n.Created.Add(-meta.UseSlack))); err != nil {
			return fmt.Errorf("index narinfo %q/%q: reference %q: %w", bucket, key, h, err)
		}
	}
	return nil
}

// narinfoRow receives one record's columns.
type narinfoRow struct {
	n                   meta.Narinfo
	created, lastAccess int64
	refs, sigs          string // decoded into substrings sharing one copy each
}

func (r *narinfoRow) dest() []any {
	n := &r.n
	return []any{&n.FileSize, &n.NarSize, &r.created, &r.lastAccess, &n.StorePath, &n.URL,
		&n.Compression, &n.FileHash, &n.NarHash, &n.Deriver, &n.CA, &r.refs, &r.sigs}
}

func (r *narinfoRow) finish() (meta.Narinfo, error) {
	r.n.Created = fromNanos(r.created)
	r.n.LastAccess = fromNanos(r.lastAccess)
	var err error
	if r.n.References, err = metaenc.DecodeStrings(r.refs); err != nil {
		return meta.Narinfo{}, fmt.Errorf("narinfo %q/%q references: %w", r.n.Bucket, r.n.Hash, err)
	}
	if r.n.Sigs, err = metaenc.DecodeStrings(r.sigs); err != nil {
		return meta.Narinfo{}, fmt.Errorf("narinfo %q/%q signatures: %w", r.n.Bucket, r.n.Hash, err)
	}
	return r.n, nil
}

// Narinfo returns the index record of bucket's <hash>.narinfo:
// meta.ErrNoSuchKey, also when the bucket is missing.
func (s *Store) Narinfo(ctx context.Context, bucket, hash string) (meta.Narinfo, error) {
	r := narinfoRow{n: meta.Narinfo{Bucket: bucket, Hash: hash}}
	err := s.r.stmt(qNarinfo).QueryRowContext(ctx, bucket, hash).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.Narinfo{}, fmt.Errorf("narinfo %q/%q: %w", bucket, hash, meta.ErrNoSuchKey)
	}
	if err != nil {
		return meta.Narinfo{}, fmt.Errorf("look up narinfo %q/%q: %w", bucket, hash, err)
	}
	return r.finish()
}

var qNarinfos = query(`SELECT hash, ` + narinfoCols + ` FROM narinfos
	WHERE bucket = ? AND hash IN (SELECT value FROM json_each(?))`)

// Narinfos returns the records of those of hashes the bucket's index
// holds, in one query.
func (s *Store) Narinfos(ctx context.Context, bucket string, hashes []string) ([]meta.Narinfo, error) {
	if len(hashes) == 0 {
		return nil, nil
	}
	js, err := json.Marshal(hashes)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.stmt(qNarinfos).QueryContext(ctx, bucket, string(js))
	if err != nil {
		return nil, fmt.Errorf("look up narinfos of %q: %w", bucket, err)
	}
	return narinfoRows(rows, bucket)
}

// narinfoRows reads the bucket's records from rows of hash and
// narinfoCols, and closes them.
func narinfoRows(rows *sql.Rows, bucket string) ([]meta.Narinfo, error) {
	defer rows.Close()
	var out []meta.Narinfo
	for rows.Next() {
		r := narinfoRow{n: meta.Narinfo{Bucket: bucket}}
		if err := rows.Scan(append([]any{&r.n.Hash}, r.dest()...)...); err != nil {
			return nil, fmt.Errorf("read narinfos of %q: %w", bucket, err)
		}
		n, err := r.finish()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read narinfos of %q: %w", bucket, err)
	}
	return out, nil
}

// withNarinfo gives cur, a narinfo object, its index record, as meta.Check
// promises; other objects, and nil, are left as they are.
func (t *txn) withNarinfo(cur *meta.Object) error {
	if cur == nil {
		return nil
	}
	hash, ok := narinfoHash(cur.Key)
	if !ok {
		return nil
	}
	r := narinfoRow{n: meta.Narinfo{Bucket: cur.Bucket, Hash: hash}}
	err := t.queryRow(qNarinfo, cur.Bucket, hash).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up narinfo %q/%q: %w", cur.Bucket, hash, err)
	}
	n, err := r.finish()
	if err != nil {
		return err
	}
	cur.Narinfo = &n
	return nil
}

// CacheStats counts the bucket's indexed narinfos and sums their sizes:
// meta.ErrNoSuchBucket. It scans the bucket's part of the covering index
// narinfos_sizes, about 20 ms per 100,000 records (BenchmarkCacheStats).
func (s *Store) CacheStats(ctx context.Context, bucket string) (meta.CacheStats, error) {
	var st meta.CacheStats
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		if err := t.queryRow(qCacheStats, bucket).Scan(&st.Paths, &st.NarBytes, &st.FileBytes); err != nil {
			return fmt.Errorf("sum narinfos of %q: %w", bucket, err)
		}
		return nil
	})
	if err != nil {
		return meta.CacheStats{}, err
	}
	return st, nil
}

// TouchNarinfos sets the last-access time of the bucket's records for the
// given hashes, in one write transaction. Hashes without a record, and a
// missing bucket, are skipped: the narinfo may have gone since it was
// read. It does not advance the generation.
func (s *Store) TouchNarinfos(ctx context.Context, bucket string, hashes []string, at time.Time) error {
	if len(hashes) == 0 {
		return nil
	}
	ns := nanos(at)
	return s.write(ctx, func(t *txn) error {
		for _, h := range hashes {
			if _, err := t.exec(qTouchNarinfo, ns, bucket, h); err != nil {
				return fmt.Errorf("touch narinfo %q/%q: %w", bucket, h, err)
			}
		}
		return nil
	})
}

// qScanNarinfos reads a page of whole records in hash order.
var qScanNarinfos = query(`SELECT hash, ` + narinfoCols + ` FROM narinfos
	WHERE bucket = ? AND hash > ? ORDER BY hash LIMIT ?`)

// ScanNarinfos returns a page of the bucket's records in hash order, in
// one read transaction: meta.ErrNoSuchBucket.
func (s *Store) ScanNarinfos(ctx context.Context, bucket, after string, limit int) ([]meta.Narinfo, error) {
	limit = max(limit, 1)
	var out []meta.Narinfo
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		var err error
		if out, err = scanNarinfoRows(t, bucket, qScanNarinfos, bucket, after, limit); err != nil {
			return fmt.Errorf("scan narinfos of %q: %w", bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
