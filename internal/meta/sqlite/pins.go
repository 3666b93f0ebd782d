package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// Pins. A pin is one row; moving it reads and rewrites the row in one
// write transaction, so concurrent moves of one pin serialise.

var _ meta.Pins = (*Store)(nil)

var (
	qPins          = query(`SELECT name, keep, updated, paths FROM pins WHERE bucket = ? ORDER BY name`)
	qPin           = query(`SELECT keep, paths FROM pins WHERE bucket = ? AND name = ?`)
	qPutPin        = query(`INSERT OR REPLACE INTO pins (bucket, name, keep, updated, paths) VALUES (?, ?, ?, ?, ?)`)
	qDeletePin     = query(`DELETE FROM pins WHERE bucket = ? AND name = ?`)
	qDeleteBktPins = query(`DELETE FROM pins WHERE bucket = ?`)
	qHasStorePath  = query(`SELECT EXISTS (SELECT 1 FROM narinfos WHERE bucket = ? AND hash = ? AND store_path = ?)`)
)

// PutPin moves (or creates) a pin as meta.Pins says: meta.ErrNoSuchBucket,
// meta.ErrNoSuchKey for a path without a narinfo record.
func (s *Store) PutPin(ctx context.Context, p meta.Pin) error {
	if err := meta.CheckPin(p); err != nil {
		return err
	}
	return s.write(ctx, func(t *txn) error {
		if err := t.needBucket(p.Bucket); err != nil {
			return err
		}
		for _, sp := range p.Paths {
			ok, err := t.exists(qHasStorePath, p.Bucket, storePathHash(sp), sp)
			if err != nil {
				return fmt.Errorf("pin %q in %q: look up %s: %w", p.Name, p.Bucket, sp, err)
			}
			if !ok {
				return fmt.Errorf("pin %q in %q: %s has no narinfo in the bucket: %w", p.Name, p.Bucket, sp, meta.ErrNoSuchKey)
			}
		}
		keep, old := 1, []string(nil)
		var raw string
		err := t.queryRow(qPin, p.Bucket, p.Name).Scan(&keep, &raw)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			keep = 1
		case err != nil:
			return fmt.Errorf("pin %q in %q: %w", p.Name, p.Bucket, err)
		default:
			if old, err = metaenc.DecodeStrings(raw); err != nil {
				return fmt.Errorf("pin %q in %q: %w", p.Name, p.Bucket, err)
			}
		}
		if p.Keep > 0 {
			keep = p.Keep
		}
		paths := meta.MovePin(old, p.Paths, keep)
		if _, err := t.exec(qPutPin, p.Bucket, p.Name, keep, nanos(p.Updated), metaenc.EncodeStrings(paths)); err != nil {
			return fmt.Errorf("pin %q in %q: %w", p.Name, p.Bucket, err)
		}
		return nil
	})
}

// storePathHash returns the hash part of a store path's base name (what
// narinfos are keyed by), or the whole base name when it has no dash.
func storePathHash(sp string) string {
	h, _, _ := strings.Cut(path.Base(sp), "-")
	return h
}

// Pins returns the bucket's pins sorted by name: meta.ErrNoSuchBucket.
func (s *Store) Pins(ctx context.Context, bucket string) ([]meta.Pin, error) {
	var pins []meta.Pin
	err := s.read(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		rows, err := t.query(qPins, bucket)
		if err != nil {
			return fmt.Errorf("list pins of %q: %w", bucket, err)
		}
		defer rows.Close()
		for rows.Next() {
			p := meta.Pin{Bucket: bucket}
			var updated int64
			var raw string
			if err := rows.Scan(&p.Name, &p.Keep, &updated, &raw); err != nil {
				return fmt.Errorf("list pins of %q: %w", bucket, err)
			}
			if p.Paths, err = metaenc.DecodeStrings(raw); err != nil {
				return fmt.Errorf("list pins of %q: pin %q: %w", bucket, p.Name, err)
			}
			p.Updated = fromNanos(updated)
			pins = append(pins, p)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list pins of %q: %w", bucket, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pins, nil
}

// RemovePin deletes a pin: meta.ErrNoSuchPin, also when the bucket is
// missing.
func (s *Store) RemovePin(ctx context.Context, bucket, name string) error {
	return s.write(ctx, func(t *txn) error {
		n, err := affected(t.exec(qDeletePin, bucket, name))
		if err != nil {
			return fmt.Errorf("remove pin %q of %q: %w", name, bucket, err)
		}
		if n == 0 {
			return fmt.Errorf("remove pin %q of %q: %w", name, bucket, meta.ErrNoSuchPin)
		}
		return nil
	})
}
