package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

const uploadCols = `initiated, attrs, checksum_type`

var (
	qUploadExists = query(`SELECT EXISTS (SELECT 1 FROM uploads WHERE id = ? AND bucket = ? AND key = ?)`)
	qUpload       = query(`SELECT ` + uploadCols + `, tags FROM uploads WHERE id = ? AND bucket = ? AND key = ?`)
	qInsertUpload = query(`INSERT INTO uploads (id, bucket, key, ` + uploadCols + `, tags)
		VALUES (?, ?, ?, ?, ?, ?, coalesce(?, x''))`)
	qDeleteUpload = query(`DELETE FROM uploads WHERE id = ?`)

	qPartSegment = query(`SELECT blob, blob_size FROM parts WHERE upload_id = ? AND number = ?`)
	qPutPart     = query(`INSERT OR REPLACE INTO parts (upload_id, number, size, etag, modified, checksum, blob, blob_size)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	qParts = query(`SELECT number, size, etag, modified, checksum, blob, blob_size FROM parts
		WHERE upload_id = ? AND number > ? ORDER BY number LIMIT ?`)
	qPartSegments = query(`SELECT blob, blob_size FROM parts WHERE upload_id = ? ORDER BY number`)
	qDeleteParts  = query(`DELETE FROM parts WHERE upload_id = ?`)

	// Upload listings: keys from ?2 up to ?3 (or the end), skipping the
	// uploads of key ?4 with an ID up to ?5; see ScanUploads.
	qScanUploads = query(`SELECT key, id, ` + uploadCols + ` FROM uploads
		WHERE bucket = ?1 AND key >= ?2 AND key < ?3 AND (key > ?4 OR id > ?5)
		ORDER BY key, id LIMIT ?6`)
	qScanUploadsOpen = query(`SELECT key, id, ` + uploadCols + ` FROM uploads
		WHERE bucket = ?1 AND key >= ?2 AND (key > ?3 OR id > ?4)
		ORDER BY key, id LIMIT ?5`)
)

// needUpload returns a wrapped meta.ErrNoSuchUpload unless upload id exists
// for bucket and key (meta.ErrNoSuchBucket if the bucket is missing).
func (t *txn) needUpload(bucket, key, id string) error {
	ok, err := t.exists(qUploadExists, id, bucket, key)
	if err != nil {
		return fmt.Errorf("look up upload %q: %w", id, err)
	}
	if ok {
		return nil
	}
	if err := t.needBucket(bucket); err != nil {
		return err
	}
	return fmt.Errorf("upload %q of %q/%q: %w", id, bucket, key, meta.ErrNoSuchUpload)
}

// CreateUpload records a new multipart upload: meta.ErrNoSuchBucket.
func (s *Store) CreateUpload(ctx context.Context, u meta.Upload) error {
	if err := meta.CheckKey(u.Key); err != nil {
		return fmt.Errorf("create upload in %q: %w", u.Bucket, err)
	}
	attrs := metaenc.EncodeAttrs(&meta.Object{Headers: u.Headers, ChecksumAlgorithm: u.ChecksumAlgorithm})
	return s.write(ctx, func(t *txn) error {
		if err := t.needBucket(u.Bucket); err != nil {
			return err
		}
		if _, err := t.exec(qInsertUpload, u.ID, u.Bucket, u.Key, nanos(u.Initiated), attrs, u.ChecksumType, metaenc.EncodeTags(u.Tags)); err != nil {
			return fmt.Errorf("create upload %q of %q/%q: %w", u.ID, u.Bucket, u.Key, err)
		}
		return nil
	})
}

// uploadRow receives one upload's columns.
type uploadRow struct {
	u         meta.Upload
	initiated int64
	attrs     string
}

func (r *uploadRow) dest() []any {
	return []any{&r.initiated, &r.attrs, &r.u.ChecksumType}
}

func (r *uploadRow) finish() (meta.Upload, error) {
	r.u.Initiated = fromNanos(r.initiated)
	var o meta.Object
	if err := metaenc.DecodeAttrs(r.attrs, &o); err != nil {
		return meta.Upload{}, fmt.Errorf("upload %q: %w", r.u.ID, err)
	}
	r.u.Headers, r.u.ChecksumAlgorithm = o.Headers, o.ChecksumAlgorithm
	return r.u, nil
}

// Upload returns the upload: meta.ErrNoSuchBucket, meta.ErrNoSuchUpload
// (also when the ID belongs to another key).
func (s *Store) Upload(ctx context.Context, bucket, key, id string) (meta.Upload, error) {
	var u meta.Upload
	err := s.read(ctx, func(t *txn) error {
		r := uploadRow{u: meta.Upload{Bucket: bucket, Key: key, ID: id}}
		var tags string
		err := t.queryRow(qUpload, id, bucket, key).Scan(append(r.dest(), &tags)...)
		if errors.Is(err, sql.ErrNoRows) {
			return t.needUpload(bucket, key, id)
		}
		if err != nil {
			return fmt.Errorf("look up upload %q: %w", id, err)
		}
		if u, err = r.finish(); err != nil {
			return err
		}
		if u.Tags, err = metaenc.DecodeTags(tags); err != nil {
			return fmt.Errorf("upload %q tags: %w", id, err)
		}
		return nil
	})
	return u, err
}

// PutPart records part p of the upload, replacing one with the same number,
// whose segment it returns as garbage unless something still refers to it.
func (s *Store) PutPart(ctx context.Context, bucket, key, uploadID string, p meta.Part) ([]meta.Segment, error) {
	var out []meta.Segment
	err := s.write(ctx, func(t *txn) error {
		if err := t.needUpload(bucket, key, uploadID); err != nil {
			return err
		}
		if p.Shared {
			if err := t.sharedPart(uploadID, p); err != nil {
				return err
			}
		}
		var g garbage
		var old meta.Segment
		err := t.queryRow(qPartSegment, uploadID, p.Number).Scan(&old.Blob, &old.Size)
		switch {
		case err == nil:
			g.add(old)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("look up part %d of upload %q: %w", p.Number, uploadID, err)
		}
		if _, err := t.exec(qPutPart, uploadID, p.Number, p.Size, p.ETag, nanos(p.Modified),
			p.Checksum, p.Segment.Blob, p.Segment.Size); err != nil {
			return fmt.Errorf("put part %d of upload %q: %w", p.Number, uploadID, err)
		}
		out, err = t.collect(&g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Parts returns up to limit parts numbered above after, in number order. A
// limit of zero or less means no limit.
func (s *Store) Parts(ctx context.Context, bucket, key, uploadID string, after, limit int) ([]meta.Part, error) {
	var parts []meta.Part
	err := s.read(ctx, func(t *txn) error {
		if err := t.needUpload(bucket, key, uploadID); err != nil {
			return err
		}
		rows, err := t.query(qParts, uploadID, after, sqlLimit(limit))
		if err != nil {
			return fmt.Errorf("list parts of upload %q: %w", uploadID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var p meta.Part
			var modified int64
			if err := rows.Scan(&p.Number, &p.Size, &p.ETag, &modified, &p.Checksum,
				&p.Segment.Blob, &p.Segment.Size); err != nil {
				return fmt.Errorf("list parts of upload %q: %w", uploadID, err)
			}
			p.Modified = fromNanos(modified)
			parts = append(parts, p)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list parts of upload %q: %w", uploadID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return parts, nil
}

// partSegments returns the segments of all the upload's parts.
func (t *txn) partSegments(uploadID string) ([]meta.Segment, error) {
	rows, err := t.query(qPartSegments, uploadID)
	if err != nil {
		return nil, fmt.Errorf("list parts of upload %q: %w", uploadID, err)
	}
	defer rows.Close()
	var segs []meta.Segment
	for rows.Next() {
		var seg meta.Segment
		if err := rows.Scan(&seg.Blob, &seg.Size); err != nil {
			return nil, fmt.Errorf("list parts of upload %q: %w", uploadID, err)
		}
		segs = append(segs, seg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list parts of upload %q: %w", uploadID, err)
	}
	return segs, nil
}

// removeUpload deletes the upload and its parts.
func (t *txn) removeUpload(uploadID string) error {
	if _, err := t.exec(qDeleteParts, uploadID); err != nil {
		return fmt.Errorf("delete parts of upload %q: %w", uploadID, err)
	}
	if _, err := t.exec(qDeleteUpload, uploadID); err != nil {
		return fmt.Errorf("delete upload %q: %w", uploadID, err)
	}
	return nil
}

// CompleteUpload turns the upload into obj: every one of obj.Segments must
// be a distinct current part of the upload, with the part's size
// (meta.ErrInvalidPart otherwise). It keeps the narinfo index as PutObject
// does: a narinfo key without obj.Narinfo loses its record. Garbage holds
// the unused parts and the replaced object's segments.
func (s *Store) CompleteUpload(ctx context.Context, uploadID string, obj meta.Object, check meta.Check) ([]meta.Segment, error) {
	var out []meta.Segment
	err := s.write(ctx, func(t *txn) error {
		if err := t.needUpload(obj.Bucket, obj.Key, uploadID); err != nil {
			return err
		}
		parts, err := t.partSegments(uploadID)
		if err != nil {
			return err
		}
		leftOut, err := meta.PartsLeftOut(uploadID, parts, obj.Segments)
		if err != nil {
			return err
		}
		cur, err := t.current(obj.Bucket, obj.Key, check)
		if err != nil {
			return err
		}
		if err := t.removeUpload(uploadID); err != nil {
			return err
		}
		var g garbage
		if err := t.putObject(obj, cur, &g); err != nil {
			return err
		}
		for _, p := range leftOut {
			g.add(p)
		}
		out, err = t.collect(&g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AbortUpload removes the upload and returns its parts as garbage:
// meta.ErrNoSuchUpload.
func (s *Store) AbortUpload(ctx context.Context, bucket, key, id string) ([]meta.Segment, error) {
	var out []meta.Segment
	err := s.write(ctx, func(t *txn) error {
		if err := t.needUpload(bucket, key, id); err != nil {
			return err
		}
		parts, err := t.partSegments(id)
		if err != nil {
			return err
		}
		if err := t.removeUpload(id); err != nil {
			return err
		}
		var g garbage
		for _, p := range parts {
			g.add(p)
		}
		out, err = t.collect(&g)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanUploads lists uploads in (key, id) order after (q.After,
// q.AfterUploadID). A limit of zero or less means no limit.
func (s *Store) ScanUploads(ctx context.Context, q meta.ScanQuery) ([]meta.Upload, error) {
	// Without an upload ID marker the listing starts strictly after the key
	// After; with one, inside it, and the (key, id) test skips the IDs up to
	// the marker.
	lo := scanStart(q.Prefix, q.After)
	if q.AfterUploadID != "" {
		lo = max(q.Prefix, q.After)
	}
	var ups []meta.Upload
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(q.Bucket); err != nil {
			return err
		}
		var rows *sql.Rows
		var err error
		if hi, ok := prefixEnd(q.Prefix); ok {
			rows, err = t.query(qScanUploads, q.Bucket, lo, hi, q.After, q.AfterUploadID, sqlLimit(q.Limit))
		} else {
			rows, err = t.query(qScanUploadsOpen, q.Bucket, lo, q.After, q.AfterUploadID, sqlLimit(q.Limit))
		}
		if err != nil {
			return fmt.Errorf("list uploads in %q: %w", q.Bucket, err)
		}
		defer rows.Close()
		for rows.Next() {
			r := uploadRow{u: meta.Upload{Bucket: q.Bucket}}
			if err := rows.Scan(append([]any{&r.u.Key, &r.u.ID}, r.dest()...)...); err != nil {
				return fmt.Errorf("list uploads in %q: %w", q.Bucket, err)
			}
			u, err := r.finish()
			if err != nil {
				return err
			}
			ups = append(ups, u)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list uploads in %q: %w", q.Bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ups, nil
}
