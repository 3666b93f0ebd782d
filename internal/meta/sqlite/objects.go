package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// objectCols are the objects columns an Object is read from, in
// objectRow.dest order, without segments. In a LEFT JOIN they are NULL for
// a missing key, hence the coalesce.
const objectCols = `coalesce(o.size, 0), coalesce(o.etag, ''), coalesce(o.modified, 0), coalesce(o.attrs, '')`

var (
	// qObject tells a missing bucket (no row) from a missing key (found is
	// false) in one indexed lookup.
	qObject = query(`SELECT o.key IS NOT NULL, ` + objectCols + `, coalesce(o.segments, ''), coalesce(o.tags, '')
		FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = ?2
		WHERE b.name = ?1`)
	qPutObject = query(`INSERT OR REPLACE INTO objects (bucket, key, size, etag, modified, attrs, segments, tags)
		VALUES (?, ?, ?, ?, ?, ?, ?, coalesce(?, x''))`)
	qDeleteObject = query(`DELETE FROM objects WHERE bucket = ? AND key = ?`)

	// Listing queries: keys from lo (inclusive) up to hi (exclusive) or to
	// the end; see scanStart. They read the covering index objects_list
	// (0014) alone, never a row's segments.
	qScanObjects = query(`SELECT o.key, ` + objectCols + ` FROM objects o
		WHERE o.bucket = ?1 AND o.key >= ?2 AND o.key < ?3
		ORDER BY o.key LIMIT ?4`)
	qScanObjectsOpen = query(`SELECT o.key, ` + objectCols + ` FROM objects o
		WHERE o.bucket = ?1 AND o.key >= ?2
		ORDER BY o.key LIMIT ?3`)
	// The same with segments and tags (ScanQuery.Segments).
	qScanObjectsSegs = query(`SELECT o.key, ` + objectCols + `, o.segments, coalesce(o.tags, '') FROM objects o
		WHERE o.bucket = ?1 AND o.key >= ?2 AND o.key < ?3
		ORDER BY o.key LIMIT ?4`)
	qScanObjectsOpenSegs = query(`SELECT o.key, ` + objectCols + `, o.segments, coalesce(o.tags, '') FROM objects o
		WHERE o.bucket = ?1 AND o.key >= ?2
		ORDER BY o.key LIMIT ?3`)

	qAddRef      = query(`INSERT INTO blob_refs (blob, refs) VALUES (?, 1) ON CONFLICT (blob) DO UPDATE SET refs = refs + 1`)
	qDropLastRef = query(`DELETE FROM blob_refs WHERE blob = ? AND refs = 1`)
	qDropRef     = query(`UPDATE blob_refs SET refs = refs - 1 WHERE blob = ?`)
	qReferenced  = query(`SELECT EXISTS (SELECT 1 FROM blob_refs WHERE blob = ?1)
		OR EXISTS (SELECT 1 FROM parts WHERE blob = ?1)`)
)

// objectRow receives one object's columns.
type objectRow struct {
	obj      meta.Object
	modified int64
	attrs    string // BLOBs scanned into strings: one copy, shared by
	segments string // the strings decoded from them
	tags     string
}

// dest returns the scan destinations matching objectCols.
func (r *objectRow) dest() []any {
	return []any{&r.obj.Size, &r.obj.ETag, &r.modified, &r.attrs}
}

// finish decodes the encoded columns; segments only if withSegments.
func (r *objectRow) finish(withSegments bool) (meta.Object, error) {
	r.obj.Modified = fromNanos(r.modified)
	if err := metaenc.DecodeAttrs(r.attrs, &r.obj); err != nil {
		return meta.Object{}, fmt.Errorf("object %q/%q: %w", r.obj.Bucket, r.obj.Key, err)
	}
	if withSegments {
		var err error
		if r.obj.Segments, err = metaenc.DecodeSegments(r.segments); err != nil {
			return meta.Object{}, fmt.Errorf("object %q/%q: %w", r.obj.Bucket, r.obj.Key, err)
		}
		if r.obj.Tags, err = metaenc.DecodeTags(r.tags); err != nil {
			return meta.Object{}, fmt.Errorf("object %q/%q tags: %w", r.obj.Bucket, r.obj.Key, err)
		}
	}
	return r.obj, nil
}

// lookupObject runs qObject. It returns nil for a missing key and a wrapped
// meta.ErrNoSuchBucket for a missing bucket.
func lookupObject(row *sql.Row, bucket, key string) (*meta.Object, error) {
	r := objectRow{obj: meta.Object{Bucket: bucket, Key: key}}
	var found bool
	err := row.Scan(&found, &r.obj.Size, &r.obj.ETag, &r.modified, &r.attrs, &r.segments, &r.tags)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("look up object %q/%q: %w", bucket, key, err)
	}
	if !found {
		return nil, nil
	}
	obj, err := r.finish(true)
	if err != nil {
		return nil, err
	}
	return &obj, nil
}

// Object returns the object under key: meta.ErrNoSuchBucket,
// meta.ErrNoSuchKey.
func (s *Store) Object(ctx context.Context, bucket, key string) (meta.Object, error) {
	obj, err := lookupObject(s.r.stmt(qObject).QueryRowContext(ctx, bucket, key), bucket, key)
	if err != nil {
		return meta.Object{}, err
	}
	if obj == nil {
		return meta.Object{}, fmt.Errorf("object %q/%q: %w", bucket, key, meta.ErrNoSuchKey)
	}
	return *obj, nil
}

// current returns the object now under key (nil if none) and runs check
// on it.
func (t *txn) current(bucket, key string, check meta.Check) (*meta.Object, error) {
	cur, err := lookupObject(t.queryRow(qObject, bucket, key), bucket, key)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := t.withNarinfo(cur); err != nil {
			return nil, err
		}
		if err := check(cur); err != nil {
			return nil, err // unchanged, as the contract promises
		}
	}
	return cur, nil
}

// putObject stores obj, replacing cur, keeps the narinfo index (see
// indexObject), and counts its blob references; the replaced segments
// become garbage candidates.
func (t *txn) putObject(obj meta.Object, cur *meta.Object, g *garbage) error {
	if err := t.indexObject(obj.Bucket, obj.Key, obj.Narinfo); err != nil {
		return err
	}
	if _, err := t.exec(qPutObject, obj.Bucket, obj.Key, obj.Size, obj.ETag, nanos(obj.Modified),
		metaenc.EncodeAttrs(&obj), metaenc.EncodeSegments(obj.Segments), metaenc.EncodeTags(obj.Tags)); err != nil {
		return fmt.Errorf("put object %q/%q: %w", obj.Bucket, obj.Key, err)
	}
	// Add before dropping, so a blob kept by the new version never reaches
	// zero references.
	for _, seg := range obj.Segments {
		if seg.Inline() {
			continue
		}
		if _, err := t.exec(qAddRef, seg.Blob); err != nil {
			return fmt.Errorf("reference blob %q: %w", seg.Blob, err)
		}
	}
	if cur != nil {
		return t.dropRefs(cur.Segments, g)
	}
	return nil
}

// dropRefs removes one object reference from each segment's blob; blobs
// that lose their last one become garbage candidates.
func (t *txn) dropRefs(segs []meta.Segment, g *garbage) error {
	for _, seg := range segs {
		if seg.Inline() {
			continue
		}
		res, err := t.exec(qDropLastRef, seg.Blob)
		if err != nil {
			return fmt.Errorf("unreference blob %q: %w", seg.Blob, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			g.add(seg)
			continue
		}
		if _, err := t.exec(qDropRef, seg.Blob); err != nil {
			return fmt.Errorf("unreference blob %q: %w", seg.Blob, err)
		}
	}
	return nil
}

// garbage collects the segments a transaction may have made unreferenced.
type garbage struct {
	segs []meta.Segment
	seen map[string]bool
}

func (g *garbage) add(seg meta.Segment) {
	if g.seen == nil {
		g.seen = make(map[string]bool)
	}
	if !g.seen[seg.Blob] {
		g.seen[seg.Blob] = true
		g.segs = append(g.segs, seg)
	}
}

// collect returns the candidates no object or part refers to any more. It
// runs last in the transaction, after every change.
func (t *txn) collect(g *garbage) ([]meta.Segment, error) {
	var out []meta.Segment
	for _, seg := range g.segs {
		used, err := t.exists(qReferenced, seg.Blob)
		if err != nil {
			return nil, fmt.Errorf("look up blob %q: %w", seg.Blob, err)
		}
		if !used {
			out = append(out, seg)
		}
	}
	return out, nil
}

// PutObject stores obj after check accepted the current object, and returns
// the replaced object's no longer referenced segments. For a narinfo key
// it stores obj.Narinfo as the key's index record, or removes the record
// when obj.Narinfo is nil; a record for another key is an error.
func (s *Store) PutObject(ctx context.Context, obj meta.Object, check meta.Check) ([]meta.Segment, error) {
	if err := meta.CheckKey(obj.Key); err != nil {
		return nil, fmt.Errorf("put object %q: %w", obj.Bucket, err)
	}
	var out []meta.Segment
	err := s.write(ctx, func(t *txn) error {
		cur, err := t.current(obj.Bucket, obj.Key, check)
		if err != nil {
			return err
		}
		var g garbage
		if err := t.putObject(obj, cur, &g); err != nil {
			return err
		}
		out, err = t.collect(&g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteObject removes the object, and for a narinfo key its index record,
// after check accepted it; a missing key is not an error.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string, check meta.Check) ([]meta.Segment, error) {
	return s.deleteObject(ctx, bucket, key, check, nil)
}

// deleteObject is DeleteObject; also, if set, then runs in its
// transaction after check.
func (s *Store) deleteObject(ctx context.Context, bucket, key string, check meta.Check, then func(t *txn) error) ([]meta.Segment, error) {
	var out []meta.Segment
	err := s.write(ctx, func(t *txn) error {
		cur, err := t.current(bucket, key, check)
		if err != nil {
			return err
		}
		if then != nil {
			if err := then(t); err != nil {
				return err
			}
		}
		if err := t.indexObject(bucket, key, nil); err != nil {
			return err
		}
		if cur == nil {
			return nil
		}
		if _, err := t.exec(qDeleteObject, bucket, key); err != nil {
			return fmt.Errorf("delete object %q/%q: %w", bucket, key, err)
		}
		var g garbage
		if err := t.dropRefs(cur.Segments, &g); err != nil {
			return err
		}
		out, err = t.collect(&g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanObjects lists objects in key order, without their segments unless
// q.Segments. A limit of zero or less means no limit.
func (s *Store) ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error) {
	var objs []meta.Object
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(q.Bucket); err != nil {
			return err
		}
		var rows *sql.Rows
		var err error
		lo := scanStart(q.Prefix, q.After)
		bounded, open := qScanObjects, qScanObjectsOpen
		if q.Segments {
			bounded, open = qScanObjectsSegs, qScanObjectsOpenSegs
		}
		if hi, ok := prefixEnd(q.Prefix); ok {
			rows, err = t.query(bounded, q.Bucket, lo, hi, sqlLimit(q.Limit))
		} else {
			rows, err = t.query(open, q.Bucket, lo, sqlLimit(q.Limit))
		}
		if err != nil {
			return fmt.Errorf("list objects in %q: %w", q.Bucket, err)
		}
		defer rows.Close()
		for rows.Next() {
			r := objectRow{obj: meta.Object{Bucket: q.Bucket}}
			dest := append([]any{&r.obj.Key}, r.dest()...)
			if q.Segments {
				dest = append(dest, &r.segments, &r.tags)
			}
			if err := rows.Scan(dest...); err != nil {
				return fmt.Errorf("list objects in %q: %w", q.Bucket, err)
			}
			obj, err := r.finish(q.Segments)
			if err != nil {
				return err
			}
			objs = append(objs, obj)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list objects in %q: %w", q.Bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return objs, nil
}

// Referenced reports for each blob whether an object or a part refers to it.
func (s *Store) Referenced(ctx context.Context, blobs []string) (map[string]bool, error) {
	m := make(map[string]bool, len(blobs))
	err := s.read(ctx, func(t *txn) error {
		for _, b := range blobs {
			used, err := t.exists(qReferenced, b)
			if err != nil {
				return fmt.Errorf("look up blob %q: %w", b, err)
			}
			m[b] = used
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// scanStart returns the smallest key a listing with the given prefix that
// starts strictly after the key after can return, so that one inclusive
// bound drives the index range. after+"\x00" is the least string greater
// than after in byte order.
func scanStart(prefix, after string) string {
	if after >= prefix {
		return after + "\x00"
	}
	return prefix
}

// prefixEnd returns the smallest string greater than every string with the
// given prefix, in byte order; ok is false when there is none (an empty
// prefix, or one of only 0xff bytes).
func prefixEnd(prefix string) (end string, ok bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// sqlLimit maps "no limit" (zero or less) to SQLite's -1.
func sqlLimit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
