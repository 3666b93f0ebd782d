package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

const (
	qUploadExists = `SELECT EXISTS (SELECT 1 FROM uploads WHERE id = $1 AND bucket = $2 AND key = $3)`
	qPartSegments = `SELECT blob, blob_size FROM parts WHERE upload_id = $1 ORDER BY number`
	// Upload listings: keys from $2 up to $3 (or the end), each at least
	// $4 (the least key above the key marker) or with an ID at least $5
	// (the least ID above the ID marker); see ScanUploads.
	qScanUploads = `SELECT key, id, initiated, attrs, checksum_type FROM uploads
		WHERE bucket = $1 AND key >= $2 AND ($3::text IS NULL OR key < $3) AND (key >= $4 OR id >= $5)
		ORDER BY key, id LIMIT $6`
)

// needUpload returns a wrapped meta.ErrNoSuchUpload unless upload id exists
// for bucket and key (meta.ErrNoSuchBucket if the bucket is missing).
func needUpload(ctx context.Context, q querier, bucket, key, id string) error {
	if meta.CheckKey(key) == nil {
		ok, err := exists(ctx, q, qUploadExists, id, bucket, key)
		if err != nil {
			return fmt.Errorf("look up upload %q: %w", id, err)
		}
		if ok {
			return nil
		}
	}
	if err := needBucket(ctx, q, bucket); err != nil {
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
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, u.Bucket); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO uploads (id, bucket, key, initiated, attrs, checksum_type, tags) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			u.ID, u.Bucket, u.Key, micros(u.Initiated), attrs, u.ChecksumType, metaenc.EncodeTags(u.Tags)); err != nil {
			return fmt.Errorf("create upload %q of %q/%q: %w", u.ID, u.Bucket, u.Key, err)
		}
		return nil
	})
}

// uploadRow receives one upload's columns.
type uploadRow struct {
	u         meta.Upload
	initiated int64
	attrs     []byte
}

func (r *uploadRow) finish() (meta.Upload, error) {
	r.u.Initiated = fromMicros(r.initiated)
	var o meta.Object
	if err := metaenc.DecodeAttrs(string(r.attrs), &o); err != nil {
		return meta.Upload{}, fmt.Errorf("upload %q: %w", r.u.ID, err)
	}
	r.u.Headers, r.u.ChecksumAlgorithm = o.Headers, o.ChecksumAlgorithm
	return r.u, nil
}

// Upload returns the upload: meta.ErrNoSuchBucket, meta.ErrNoSuchUpload
// (also when the ID belongs to another key).
func (s *Store) Upload(ctx context.Context, bucket, key, id string) (meta.Upload, error) {
	if meta.CheckKey(key) != nil {
		return meta.Upload{}, needUpload(ctx, s.pool, bucket, key, id)
	}
	r := uploadRow{u: meta.Upload{Bucket: bucket, Key: key, ID: id}}
	var tags []byte
	err := s.pool.QueryRow(ctx, `SELECT initiated, attrs, checksum_type, tags FROM uploads WHERE id = $1 AND bucket = $2 AND key = $3`,
		id, bucket, key).Scan(&r.initiated, &r.attrs, &r.u.ChecksumType, &tags)
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.Upload{}, needUpload(ctx, s.pool, bucket, key, id)
	}
	if err != nil {
		return meta.Upload{}, fmt.Errorf("look up upload %q: %w", id, err)
	}
	u, err := r.finish()
	if err != nil {
		return meta.Upload{}, err
	}
	if u.Tags, err = metaenc.DecodeTags(string(tags)); err != nil {
		return meta.Upload{}, fmt.Errorf("upload %q tags: %w", id, err)
	}
	return u, nil
}

// PutPart records part p of the upload, replacing one with the same number,
// whose segment it returns as garbage unless something still refers to it.
// A part racing the upload's completion or abort on another node either
// commits first (and is then part of what those see) or finds the upload
// gone.
func (s *Store) PutPart(ctx context.Context, bucket, key, uploadID string, p meta.Part) ([]meta.Segment, error) {
	var out []meta.Segment
	err := s.write(ctx, func(tx pgx.Tx) error {
		out = nil
		if err := needUpload(ctx, tx, bucket, key, uploadID); err != nil {
			return err
		}
		if p.Shared {
			if err := sharedPart(ctx, tx, uploadID, p); err != nil {
				return err
			}
		}
		var g garbage
		var old meta.Segment
		err := tx.QueryRow(ctx, `SELECT blob, blob_size FROM parts WHERE upload_id = $1 AND number = $2`,
			uploadID, p.Number).Scan(&old.Blob, &old.Size)
		switch {
		case err == nil:
			g.add(old)
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("look up part %d of upload %q: %w", p.Number, uploadID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO parts (upload_id, number, size, etag, modified, checksum, blob, blob_size)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (upload_id, number) DO UPDATE SET size = excluded.size, etag = excluded.etag,
				modified = excluded.modified, checksum = excluded.checksum, blob = excluded.blob,
				blob_size = excluded.blob_size`,
			uploadID, p.Number, p.Size, p.ETag, micros(p.Modified), p.Checksum, p.Segment.Blob, p.Segment.Size); err != nil {
			return fmt.Errorf("put part %d of upload %q: %w", p.Number, uploadID, err)
		}
		out, err = collect(ctx, tx, &g)
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
	if err := needUpload(ctx, s.pool, bucket, key, uploadID); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT number, size, etag, modified, checksum, blob, blob_size FROM parts
		WHERE upload_id = $1 AND number > $2 ORDER BY number LIMIT $3`, uploadID, after, sqlLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list parts of upload %q: %w", uploadID, err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Part, error) {
		var p meta.Part
		var modified int64
		err := r.Scan(&p.Number, &p.Size, &p.ETag, &modified, &p.Checksum, &p.Segment.Blob, &p.Segment.Size)
		p.Modified = fromMicros(modified)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list parts of upload %q: %w", uploadID, err)
	}
	return parts, nil
}

// partSegments returns the segments of all the upload's parts.
func partSegments(ctx context.Context, tx pgx.Tx, uploadID string) ([]meta.Segment, error) {
	rows, err := tx.Query(ctx, qPartSegments, uploadID)
	if err != nil {
		return nil, fmt.Errorf("list parts of upload %q: %w", uploadID, err)
	}
	segs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Segment, error) {
		var seg meta.Segment
		err := r.Scan(&seg.Blob, &seg.Size)
		return seg, err
	})
	if err != nil {
		return nil, fmt.Errorf("list parts of upload %q: %w", uploadID, err)
	}
	return segs, nil
}

// removeUpload deletes the upload and its parts.
func removeUpload(ctx context.Context, tx pgx.Tx, uploadID string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM parts WHERE upload_id = $1`, uploadID); err != nil {
		return fmt.Errorf("delete parts of upload %q: %w", uploadID, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM uploads WHERE id = $1`, uploadID); err != nil {
		return fmt.Errorf("delete upload %q: %w", uploadID, err)
	}
	return nil
}

// CompleteUpload turns the upload into obj: every one of obj.Segments must
// be a distinct current part of the upload, with the part's size
// (meta.ErrInvalidPart otherwise). It keeps the narinfo index as PutObject
// does. Garbage holds the unused parts and the replaced object's segments.
// Two nodes completing one upload at once: one commits, the other's retry
// finds the upload gone (meta.ErrNoSuchUpload).
func (s *Store) CompleteUpload(ctx context.Context, uploadID string, obj meta.Object, check meta.Check) ([]meta.Segment, error) {
	var out []meta.Segment
	err := s.writeObjects(ctx, obj.Bucket, func(tx pgx.Tx, changed func(string)) error {
		out = nil
		if err := needUpload(ctx, tx, obj.Bucket, obj.Key, uploadID); err != nil {
			return err
		}
		parts, err := partSegments(ctx, tx, uploadID)
		if err != nil {
			return err
		}
		leftOut, err := meta.PartsLeftOut(uploadID, parts, obj.Segments)
		if err != nil {
			return err
		}
		cur, err := current(ctx, tx, obj.Bucket, obj.Key, check)
		if err != nil {
			return err
		}
		if err := removeUpload(ctx, tx, uploadID); err != nil {
			return err
		}
		var g garbage
		if err := putObject(ctx, tx, obj, cur, &g); err != nil {
			return err
		}
		changed(obj.Key)
		for _, p := range leftOut {
			g.add(p)
		}
		out, err = collect(ctx, tx, &g)
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
	err := s.write(ctx, func(tx pgx.Tx) error {
		out = nil
		if err := needUpload(ctx, tx, bucket, key, id); err != nil {
			return err
		}
		parts, err := partSegments(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := removeUpload(ctx, tx, id); err != nil {
			return err
		}
		var g garbage
		for _, p := range parts {
			g.add(p)
		}
		out, err = collect(ctx, tx, &g)
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
	if meta.CheckKey(q.Prefix) != nil {
		return nil, needBucket(ctx, s.pool, q.Bucket) // no key has it
	}
	// Without an upload ID marker the listing starts strictly after the key
	// After; with one, inside it, and the (key, id) test skips the IDs up to
	// the marker. "x > M" is "x >= textCeil(M+NUL)" (see bounds.go).
	lo := textCeil(max(q.Prefix, q.After+"\x00"))
	if q.AfterUploadID != "" {
		lo = textCeil(max(q.Prefix, q.After))
	}
	after, afterID := textCeil(q.After+"\x00"), textCeil(q.AfterUploadID+"\x00")
	rows, err := s.pool.Query(ctx, qScanUploads, q.Bucket, lo, prefixEnd(q.Prefix), after, afterID, sqlLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list uploads in %q: %w", q.Bucket, err)
	}
	ups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (meta.Upload, error) {
		r := uploadRow{u: meta.Upload{Bucket: q.Bucket}}
		if err := row.Scan(&r.u.Key, &r.u.ID, &r.initiated, &r.attrs, &r.u.ChecksumType); err != nil {
			return meta.Upload{}, err
		}
		return r.finish()
	})
	if err != nil {
		return nil, fmt.Errorf("list uploads in %q: %w", q.Bucket, err)
	}
	if len(ups) == 0 {
		return nil, needBucket(ctx, s.pool, q.Bucket)
	}
	return ups, nil
}
