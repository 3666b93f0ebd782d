package postgres

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// Pins. Moving a pin reads and rewrites its row in one serializable
// transaction, so concurrent moves of one pin, on any nodes, serialise.

var _ meta.Pins = (*Store)(nil)

// PutPin moves (or creates) a pin as meta.Pins says: meta.ErrNoSuchBucket,
// meta.ErrNoSuchKey for a path without a narinfo record.
func (s *Store) PutPin(ctx context.Context, p meta.Pin) error {
	if err := meta.CheckPin(p); err != nil {
		return err
	}
	if err := meta.CheckKey(p.Name + strings.Join(p.Paths, "")); err != nil {
		return fmt.Errorf("pin in %q: %w", p.Bucket, err)
	}
	if invalidName(p.Bucket) {
		return fmt.Errorf("bucket %q: %w", p.Bucket, meta.ErrNoSuchBucket)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, p.Bucket); err != nil {
			return err
		}
		for _, sp := range p.Paths {
			ok, err := exists(ctx, tx, `SELECT EXISTS (SELECT 1 FROM narinfos WHERE bucket = $1 AND hash = $2 AND store_path = $3)`,
				p.Bucket, storePathHash(sp), sp)
			if err != nil {
				return fmt.Errorf("pin %q in %q: look up %s: %w", p.Name, p.Bucket, sp, err)
			}
			if !ok {
				return fmt.Errorf("pin %q in %q: %s has no narinfo in the bucket: %w", p.Name, p.Bucket, sp, meta.ErrNoSuchKey)
			}
		}
		var keep32 int32
		var raw []byte
		keep, old := 1, []string(nil)
		err := tx.QueryRow(ctx, `SELECT keep, paths FROM pins WHERE bucket = $1 AND name = $2`, p.Bucket, p.Name).Scan(&keep32, &raw)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("pin %q in %q: %w", p.Name, p.Bucket, err)
		default:
			keep = int(keep32)
			if old, err = metaenc.DecodeStrings(string(raw)); err != nil {
				return fmt.Errorf("pin %q in %q: %w", p.Name, p.Bucket, err)
			}
		}
		if p.Keep > 0 {
			keep = p.Keep
		}
		paths := meta.MovePin(old, p.Paths, keep)
		if _, err := tx.Exec(ctx, `INSERT INTO pins (bucket, name, keep, updated, paths) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (bucket, name) DO UPDATE SET keep = excluded.keep, updated = excluded.updated, paths = excluded.paths`,
			p.Bucket, p.Name, keep, micros(p.Updated), metaenc.EncodeStrings(paths)); err != nil {
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
	if invalidName(bucket) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	rows, err := s.pool.Query(ctx, `SELECT name, keep, updated, paths FROM pins WHERE bucket = $1 ORDER BY name`, bucket)
	if err != nil {
		return nil, fmt.Errorf("list pins of %q: %w", bucket, err)
	}
	pins, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Pin, error) {
		p := meta.Pin{Bucket: bucket}
		var keep int32
		var updated int64
		var raw []byte
		if err := r.Scan(&p.Name, &keep, &updated, &raw); err != nil {
			return p, err
		}
		p.Keep, p.Updated = int(keep), fromMicros(updated)
		var err error
		if p.Paths, err = metaenc.DecodeStrings(string(raw)); err != nil {
			return p, fmt.Errorf("pin %q: %w", p.Name, err)
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pins of %q: %w", bucket, err)
	}
	if len(pins) == 0 {
		return nil, needBucket(ctx, s.pool, bucket)
	}
	return pins, nil
}

// RemovePin deletes a pin: meta.ErrNoSuchPin, also when the bucket is
// missing.
func (s *Store) RemovePin(ctx context.Context, bucket, name string) error {
	if invalidName(bucket + name) {
		return fmt.Errorf("remove pin %q of %q: %w", name, bucket, meta.ErrNoSuchPin)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM pins WHERE bucket = $1 AND name = $2`, bucket, name)
		if err != nil {
			return fmt.Errorf("remove pin %q of %q: %w", name, bucket, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("remove pin %q of %q: %w", name, bucket, meta.ErrNoSuchPin)
		}
		return nil
	})
}
