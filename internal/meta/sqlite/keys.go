package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Access keys, the part of meta.IAM that the administrator shares with users.

var (
	qAccessKey      = query(`SELECT secret, user_name, created, enabled FROM access_keys WHERE id = ?`)
	qAccessKeys     = query(`SELECT id, secret, user_name, created, enabled FROM access_keys ORDER BY id`)
	qAccessKeyExist = query(`SELECT EXISTS (SELECT 1 FROM access_keys WHERE id = ?)`)
	qInsertKey      = query(`INSERT INTO access_keys (id, secret, user_name, created, enabled) VALUES (?, ?, ?, ?, ?)`)
)

// PutAccessKey stores a new access key; meta.ErrAccessKeyExists if the ID
// is taken.
func (s *Store) PutAccessKey(ctx context.Context, k meta.AccessKey) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		ok, err := t.exists(qAccessKeyExist, k.ID)
		if err != nil {
			return fmt.Errorf("look up access key %q: %w", k.ID, err)
		}
		if ok {
			return fmt.Errorf("put access key %q: %w", k.ID, meta.ErrAccessKeyExists)
		}
		if _, err := t.exec(qInsertKey, k.ID, k.Secret, k.User, nanos(k.Created), k.Enabled); err != nil {
			return fmt.Errorf("put access key %q: %w", k.ID, err)
		}
		return nil
	})
}

// AccessKey returns the access key with the given ID;
// meta.ErrNoSuchAccessKey if there is none.
func (s *Store) AccessKey(ctx context.Context, id string) (meta.AccessKey, error) {
	k := meta.AccessKey{ID: id}
	var created int64
	err := s.r.stmt(qAccessKey).QueryRowContext(ctx, id).Scan(&k.Secret, &k.User, &created, &k.Enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.AccessKey{}, fmt.Errorf("access key %q: %w", id, meta.ErrNoSuchAccessKey)
	}
	if err != nil {
		return meta.AccessKey{}, fmt.Errorf("look up access key %q: %w", id, err)
	}
	k.Created = fromNanos(created)
	return k, nil
}

// AccessKeys returns all access keys sorted by ID.
func (s *Store) AccessKeys(ctx context.Context) ([]meta.AccessKey, error) {
	rows, err := s.r.stmt(qAccessKeys).QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	defer rows.Close()
	var ks []meta.AccessKey
	for rows.Next() {
		var k meta.AccessKey
		var created int64
		if err := rows.Scan(&k.ID, &k.Secret, &k.User, &created, &k.Enabled); err != nil {
			return nil, fmt.Errorf("list access keys: %w", err)
		}
		k.Created = fromNanos(created)
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	return ks, nil
}
