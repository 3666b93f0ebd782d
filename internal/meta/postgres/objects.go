package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// objectCols are the objects columns an Object is read from, in
// objectRow.dest order, without segments. In a LEFT JOIN they are NULL for
// a missing key, hence the coalesce.
const objectCols = `coalesce(o.size, 0), coalesce(o.etag, ''), coalesce(o.modified, 0), coalesce(o.attrs, '')`

const (
	// qObject tells a missing bucket (no row) from a missing key (found is
	// false) in one indexed lookup.
	qObject = `SELECT o.key IS NOT NULL, ` + objectCols + `, coalesce(o.segments, ''), coalesce(o.tags, '')
		FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = $2
		WHERE b.name = $1`
	qPutObject = `INSERT INTO objects (bucket, key, size, etag, modified, attrs, segments, tags)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (bucket, key) DO UPDATE SET size = excluded.size, etag = excluded.etag,
			modified = excluded.modified, attrs = excluded.attrs, segments = excluded.segments, tags = excluded.tags`
	qScanObjects = `SELECT o.key, ` + objectCols + ` FROM objects o
		WHERE o.bucket = $1 AND o.key >= $2 AND ($3::text IS NULL OR o.key < $3)
		ORDER BY o.key LIMIT $4`
	// The same with segments and tags (ScanQuery.Segments).
	qScanObjectsSegs = `SELECT o.key, ` + objectCols + `, o.segments, coalesce(o.tags, '') FROM objects o
		WHERE o.bucket = $1 AND o.key >= $2 AND ($3::text IS NULL OR o.key < $3)
		ORDER BY o.key LIMIT $4`
	qAddRef      = `INSERT INTO blob_refs (blob, refs) VALUES ($1, 1) ON CONFLICT (blob) DO UPDATE SET refs = blob_refs.refs + 1`
	qDropLastRef = `DELETE FROM blob_refs WHERE blob = $1 AND refs = 1`
	qDropRef     = `UPDATE blob_refs SET refs = refs - 1 WHERE blob = $1`
	qReferenced  = `SELECT EXISTS (SELECT 1 FROM blob_refs WHERE blob = $1)
		OR EXISTS (SELECT 1 FROM parts WHERE blob = $1)`
)

// objectRow receives one object's columns.
type objectRow struct {
	obj      meta.Object
	modified int64
	attrs    []byte
	segments []byte
	tags     []byte
}

func (r *objectRow) dest() []any {
	return []any{&r.obj.Size, &r.obj.ETag, &r.modified, &r.attrs}
}

// finish decodes the encoded columns; segments only if withSegments.
func (r *objectRow) finish(withSegments bool) (meta.Object, error) {
	r.obj.Modified = fromMicros(r.modified)
	if err := metaenc.DecodeAttrs(string(r.attrs), &r.obj); err != nil {
		return meta.Object{}, fmt.Errorf("object %q/%q: %w", r.obj.Bucket, r.obj.Key, err)
	}
	if withSegments {
		var err error
		if r.obj.Segments, err = metaenc.DecodeSegments(string(r.segments)); err != nil {
			return meta.Object{}, fmt.Errorf("object %q/%q: %w", r.obj.Bucket, r.obj.Key, err)
		}
		if r.obj.Tags, err = metaenc.DecodeTags(string(r.tags)); err != nil {
			return meta.Object{}, fmt.Errorf("object %q/%q tags: %w", r.obj.Bucket, r.obj.Key, err)
		}
	}
	return r.obj, nil
}

// lookupObject returns the object under key, nil for a missing key, and a
// wrapped meta.ErrNoSuchBucket for a missing bucket.
func lookupObject(ctx context.Context, q querier, bucket, key string) (*meta.Object, error) {
	return scanObject(q.QueryRow(ctx, qObject, bucket, key), bucket, key)
}

// scanObject is lookupObject's reading of qObject's row.
func scanObject(row pgx.Row, bucket, key string) (*meta.Object, error) {
	r := objectRow{obj: meta.Object{Bucket: bucket, Key: key}}
	var found bool
	err := row.Scan(&found, &r.obj.Size, &r.obj.ETag, &r.modified, &r.attrs, &r.segments, &r.tags)
	if errors.Is(err, pgx.ErrNoRows) {
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
// meta.ErrNoSuchKey (also for a key no store holds).
func (s *Store) Object(ctx context.Context, bucket, key string) (meta.Object, error) {
	if meta.CheckKey(key) != nil {
		if err := needBucket(ctx, s.pool, bucket); err != nil {
			return meta.Object{}, err
		}
		return meta.Object{}, fmt.Errorf("object %q/%q: %w", bucket, key, meta.ErrNoSuchKey)
	}
	obj, err := lookupObject(ctx, s.pool, bucket, key)
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
func current(ctx context.Context, tx pgx.Tx, bucket, key string, check meta.Check) (*meta.Object, error) {
	cur, err := lookupObject(ctx, tx, bucket, key)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := withNarinfo(ctx, tx, cur); err != nil {
			return nil, err
		}
		if err := check(cur); err != nil {
			return nil, err // unchanged, as the contract promises
		}
	}
	return cur, nil
}

// putObject stores obj, replacing cur, keeps the narinfo index, and counts
// its blob references; the replaced segments become garbage candidates.
func putObject(ctx context.Context, tx pgx.Tx, obj meta.Object, cur *meta.Object, g *garbage) error {
	if err := indexObject(ctx, tx, obj.Bucket, obj.Key, obj.Narinfo); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, qPutObject, obj.Bucket, obj.Key, obj.Size, obj.ETag, micros(obj.Modified),
		metaenc.EncodeAttrs(&obj), metaenc.EncodeSegments(obj.Segments), metaenc.EncodeTags(obj.Tags)); err != nil {
		return fmt.Errorf("put object %q/%q: %w", obj.Bucket, obj.Key, err)
	}
	// Add before dropping, so a blob kept by the new version never reaches
	// zero references.
	for _, seg := range obj.Segments {
		if seg.Inline() {
			continue
		}
		if _, err := tx.Exec(ctx, qAddRef, seg.Blob); err != nil {
			return fmt.Errorf("reference blob %q: %w", seg.Blob, err)
		}
	}
	if cur != nil {
		return dropRefs(ctx, tx, cur.Segments, g)
	}
	return nil
}

// dropRefs removes one object reference from each segment's blob; blobs
// that lose their last one become garbage candidates.
func dropRefs(ctx context.Context, tx pgx.Tx, segs []meta.Segment, g *garbage) error {
	for _, seg := range segs {
		if seg.Inline() {
			continue
		}
		tag, err := tx.Exec(ctx, qDropLastRef, seg.Blob)
		if err != nil {
			return fmt.Errorf("unreference blob %q: %w", seg.Blob, err)
		}
		if tag.RowsAffected() > 0 {
			g.add(seg)
			continue
		}
		if _, err := tx.Exec(ctx, qDropRef, seg.Blob); err != nil {
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
func collect(ctx context.Context, tx pgx.Tx, g *garbage) ([]meta.Segment, error) {
	var out []meta.Segment
	for _, seg := range g.segs {
		used, err := exists(ctx, tx, qReferenced, seg.Blob)
		if err != nil {
			return nil, fmt.Errorf("look up blob %q: %w", seg.Blob, err)
		}
		if !used {
			out = append(out, seg)
		}
	}
	return out, nil
}

// ScanObjects lists objects in key order, without their segments. A limit
// of zero or less means no limit.
func (s *Store) ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error) {
	if meta.CheckKey(q.Prefix) != nil {
		return nil, needBucket(ctx, s.pool, q.Bucket) // no key has it
	}
	lo := textCeil(max(q.Prefix, q.After+"\x00")) // the least key above After
	sql := qScanObjects
	if q.Segments {
		sql = qScanObjectsSegs
	}
	rows, err := s.pool.Query(ctx, sql, q.Bucket, lo, prefixEnd(q.Prefix), sqlLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list objects in %q: %w", q.Bucket, err)
	}
	objs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Object, error) {
		r := objectRow{obj: meta.Object{Bucket: q.Bucket}}
		dest := append([]any{&r.obj.Key}, r.dest()...)
		if q.Segments {
			dest = append(dest, &r.segments, &r.tags)
		}
		if err := row.Scan(dest...); err != nil {
			return meta.Object{}, err
		}
		return r.finish(q.Segments)
	})
	if err != nil {
		return nil, fmt.Errorf("list objects in %q: %w", q.Bucket, err)
	}
	if len(objs) == 0 { // objects imply their bucket; none may mean no bucket
		return nil, needBucket(ctx, s.pool, q.Bucket)
	}
	return objs, nil
}

// Referenced reports for each blob whether an object or a part refers to it.
func (s *Store) Referenced(ctx context.Context, blobs []string) (map[string]bool, error) {
	m := make(map[string]bool, len(blobs))
	rows, err := s.pool.Query(ctx, `SELECT b, EXISTS (SELECT 1 FROM blob_refs WHERE blob = b)
		OR EXISTS (SELECT 1 FROM parts WHERE blob = b) FROM unnest($1::text[]) AS b`, blobs)
	if err != nil {
		return nil, fmt.Errorf("look up blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b string
		var used bool
		if err := rows.Scan(&b, &used); err != nil {
			return nil, fmt.Errorf("look up blobs: %w", err)
		}
		m[b] = used
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up blobs: %w", err)
	}
	return m, nil
}

// sqlLimit maps "no limit" (zero or less) to NULL, LIMIT ALL.
func sqlLimit(n int) any {
	if n <= 0 {
		return nil
	}
	return n
}
