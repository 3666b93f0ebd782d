package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// The identity part of the Store. Every change is announced.

var _ meta.IAM = (*Store)(nil)

const qUserExists = `SELECT EXISTS (SELECT 1 FROM users WHERE name = $1)`

// invalidName reports a name with a NUL, which text cannot hold: no
// record has one.
func invalidName(name string) bool { return meta.CheckKey(name) != nil }

// CreateUser creates a user: meta.ErrUserExists if the name is taken,
// including by the administrator, "root".
func (s *Store) CreateUser(ctx context.Context, u meta.User) error {
	if u.Name == rootUser {
		return fmt.Errorf("create user %q: %w (the administrator)", u.Name, meta.ErrUserExists)
	}
	if err := meta.CheckKey(u.Name); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO users (name, created, policy) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			u.Name, micros(u.Created), policyValue(u.Policy))
		if err != nil {
			return fmt.Errorf("create user %q: %w", u.Name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("create user %q: %w", u.Name, meta.ErrUserExists)
		}
		return nil
	})
}

// User returns the user's record: meta.ErrNoSuchUser.
func (s *Store) User(ctx context.Context, name string) (meta.User, error) {
	u := meta.User{Name: name}
	var created int64
	err := pgx.ErrNoRows
	if !invalidName(name) {
		err = s.pool.QueryRow(ctx, `SELECT created, policy FROM users WHERE name = $1`, name).Scan(&created, &u.Policy)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.User{}, fmt.Errorf("user %q: %w", name, meta.ErrNoSuchUser)
	}
	if err != nil {
		return meta.User{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	u.Created = fromMicros(created)
	return u, nil
}

// Users returns all users sorted by name.
func (s *Store) Users(ctx context.Context) ([]meta.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, created, policy FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	us, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.User, error) {
		var u meta.User
		var created int64
		err := r.Scan(&u.Name, &created, &u.Policy)
		u.Created = fromMicros(created)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// DeleteUser deletes a user with its access keys and tokens:
// meta.ErrNoSuchUser.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	if invalidName(name) {
		return fmt.Errorf("delete user %q: %w", name, meta.ErrNoSuchUser)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		// A missing user ("root" among them) keeps the keys that carry
		// its name.
		ok, err := exists(ctx, tx, qUserExists, name)
		if err != nil {
			return fmt.Errorf("look up user %q: %w", name, err)
		}
		if !ok {
			return fmt.Errorf("delete user %q: %w", name, meta.ErrNoSuchUser)
		}
		// Tokens before the user: they refer to it.
		for _, table := range []string{"tokens", "access_keys"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE user_name = $1`, name); err != nil {
				return fmt.Errorf("delete user %q: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM users WHERE name = $1`, name); err != nil {
			return fmt.Errorf("delete user %q: %w", name, err)
		}
		return nil
	})
}

// SetUserPolicy replaces the user's policy, nil removes it:
// meta.ErrNoSuchUser.
func (s *Store) SetUserPolicy(ctx context.Context, name string, policy []byte) error {
	return s.announcedUpdate(ctx, fmt.Sprintf("set policy of user %q", name), meta.ErrNoSuchUser,
		invalidName(name), `UPDATE users SET policy = $1 WHERE name = $2`, policyValue(policy), name)
}

// announcedUpdate runs one announced statement that must change a row:
// else notFound (also when skip, for a name no row can have).
func (s *Store) announcedUpdate(ctx context.Context, what string, notFound error, skip bool, sql string, args ...any) error {
	if skip {
		return fmt.Errorf("%s: %w", what, notFound)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%s: %w", what, notFound)
		}
		return nil
	})
}

// PutAccessKey stores a new access key: meta.ErrAccessKeyExists if the ID
// is taken.
func (s *Store) PutAccessKey(ctx context.Context, k meta.AccessKey) error {
	if err := meta.CheckKey(k.ID); err != nil {
		return fmt.Errorf("put access key: %w", err)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO access_keys (id, secret, user_name, created, enabled)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, k.ID, k.Secret, k.User, micros(k.Created), k.Enabled)
		if err != nil {
			return fmt.Errorf("put access key %q: %w", k.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("put access key %q: %w", k.ID, meta.ErrAccessKeyExists)
		}
		return nil
	})
}

// AccessKey returns the access key with the given ID:
// meta.ErrNoSuchAccessKey.
func (s *Store) AccessKey(ctx context.Context, id string) (meta.AccessKey, error) {
	k := meta.AccessKey{ID: id}
	var created int64
	err := pgx.ErrNoRows
	if !invalidName(id) {
		err = s.pool.QueryRow(ctx, `SELECT secret, user_name, created, enabled FROM access_keys WHERE id = $1`, id).
			Scan(&k.Secret, &k.User, &created, &k.Enabled)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.AccessKey{}, fmt.Errorf("access key %q: %w", id, meta.ErrNoSuchAccessKey)
	}
	if err != nil {
		return meta.AccessKey{}, fmt.Errorf("look up access key %q: %w", id, err)
	}
	k.Created = fromMicros(created)
	return k, nil
}

// AccessKeys returns all access keys sorted by ID.
func (s *Store) AccessKeys(ctx context.Context) ([]meta.AccessKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, secret, user_name, created, enabled FROM access_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	ks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.AccessKey, error) {
		var k meta.AccessKey
		var created int64
		err := r.Scan(&k.ID, &k.Secret, &k.User, &created, &k.Enabled)
		k.Created = fromMicros(created)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	return ks, nil
}

// SetAccessKeyEnabled enables or disables a key: meta.ErrNoSuchAccessKey.
func (s *Store) SetAccessKeyEnabled(ctx context.Context, id string, enabled bool) error {
	return s.announcedUpdate(ctx, fmt.Sprintf("update access key %q", id), meta.ErrNoSuchAccessKey,
		invalidName(id), `UPDATE access_keys SET enabled = $1 WHERE id = $2`, enabled, id)
}

// DeleteAccessKey deletes a key: meta.ErrNoSuchAccessKey.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	return s.announcedUpdate(ctx, fmt.Sprintf("delete access key %q", id), meta.ErrNoSuchAccessKey,
		invalidName(id), `DELETE FROM access_keys WHERE id = $1`, id)
}

// PutToken stores a new token: meta.ErrNoSuchUser unless its user exists.
// A token ID already in use is an error.
func (s *Store) PutToken(ctx context.Context, tok meta.Token) error {
	if len(tok.Hash) == 0 {
		return fmt.Errorf("put token %q: no hash", tok.ID)
	}
	if invalidName(tok.User) {
		return fmt.Errorf("put token %q: user %q: %w", tok.ID, tok.User, meta.ErrNoSuchUser)
	}
	if err := meta.CheckKey(tok.ID); err != nil {
		return fmt.Errorf("put token: %w", err)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		ok, err := exists(ctx, tx, qUserExists, tok.User)
		if err != nil {
			return fmt.Errorf("look up user %q: %w", tok.User, err)
		}
		if !ok {
			return fmt.Errorf("put token %q: user %q: %w", tok.ID, tok.User, meta.ErrNoSuchUser)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO tokens (id, user_name, hash, created, expires, policy)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			tok.ID, tok.User, tok.Hash, micros(tok.Created), micros(tok.Expires), policyValue(tok.Policy))
		if err != nil {
			return fmt.Errorf("put token %q: %w", tok.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("put token %q: the ID is taken", tok.ID)
		}
		return nil
	})
}

func scanToken(r pgx.Row, withID bool, tok *meta.Token) error {
	var created, expires int64
	dest := []any{&tok.User, &tok.Hash, &created, &expires, &tok.Policy}
	if withID {
		dest = append([]any{&tok.ID}, dest...)
	}
	if err := r.Scan(dest...); err != nil {
		return err
	}
	tok.Created, tok.Expires = fromMicros(created), fromMicros(expires)
	return nil
}

// Token returns the token with the given ID: meta.ErrNoSuchToken.
func (s *Store) Token(ctx context.Context, id string) (meta.Token, error) {
	tok := meta.Token{ID: id}
	err := pgx.ErrNoRows
	if !invalidName(id) {
		err = scanToken(s.pool.QueryRow(ctx, `SELECT user_name, hash, created, expires, policy FROM tokens WHERE id = $1`, id), false, &tok)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return meta.Token{}, fmt.Errorf("token %q: %w", id, meta.ErrNoSuchToken)
	}
	if err != nil {
		return meta.Token{}, fmt.Errorf("look up token %q: %w", id, err)
	}
	return tok, nil
}

// Tokens returns all tokens sorted by user, then ID.
func (s *Store) Tokens(ctx context.Context) ([]meta.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, user_name, hash, created, expires, policy FROM tokens ORDER BY user_name, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (meta.Token, error) {
		var tok meta.Token
		err := scanToken(r, true, &tok)
		return tok, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// DeleteToken revokes a token: meta.ErrNoSuchToken.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.announcedUpdate(ctx, fmt.Sprintf("delete token %q", id), meta.ErrNoSuchToken,
		invalidName(id), `DELETE FROM tokens WHERE id = $1`, id)
}

// SetBucketPolicy stores the bucket's policy, nil removes it:
// meta.ErrNoSuchBucket.
func (s *Store) SetBucketPolicy(ctx context.Context, bucket string, policy []byte) error {
	if invalidName(bucket) {
		return fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		if err := needBucket(ctx, tx, bucket); err != nil {
			return err
		}
		var err error
		if len(policy) == 0 {
			_, err = tx.Exec(ctx, `DELETE FROM bucket_policies WHERE bucket = $1`, bucket)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO bucket_policies (bucket, policy) VALUES ($1, $2)
				ON CONFLICT (bucket) DO UPDATE SET policy = excluded.policy`, bucket, policy)
		}
		if err != nil {
			return fmt.Errorf("set policy of bucket %q: %w", bucket, err)
		}
		return nil
	})
}

// BucketPolicy returns the bucket's policy: meta.ErrNoSuchBucket,
// meta.ErrNoSuchBucketPolicy.
func (s *Store) BucketPolicy(ctx context.Context, bucket string) ([]byte, error) {
	var policy []byte
	err := pgx.ErrNoRows
	if !invalidName(bucket) {
		err = s.pool.QueryRow(ctx, `SELECT p.policy FROM buckets b LEFT JOIN bucket_policies p ON p.bucket = b.name
			WHERE b.name = $1`, bucket).Scan(&policy)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("look up policy of bucket %q: %w", bucket, err)
	}
	if policy == nil {
		return nil, fmt.Errorf("bucket %q: %w", bucket, meta.ErrNoSuchBucketPolicy)
	}
	return policy, nil
}

// Setting returns a server-wide setting; a missing one reads as "".
func (s *Store) Setting(ctx context.Context, name string) (string, error) {
	var v []byte
	err := pgx.ErrNoRows
	if !invalidName(name) {
		err = s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up setting %q: %w", name, err)
	}
	return string(v), nil
}

// SetSetting stores a server-wide setting.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	if err := meta.CheckKey(name); err != nil {
		return fmt.Errorf("set setting: %w", err)
	}
	return s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, []byte(value)); err != nil {
			return fmt.Errorf("set setting %q: %w", name, err)
		}
		return nil
	})
}

// Generation returns the store's generation (meta.Announcer), shared with
// every instance on the database: see gen.go. While the change listener
// is connected it costs one atomic load.
func (s *Store) Generation(ctx context.Context) (uint64, error) {
	return s.gen.generation(ctx)
}
