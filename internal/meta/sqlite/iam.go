package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// rootUser is the server's administrator: it has access keys but no users
// row, and so no tokens and no policy.
const rootUser = "root"

var _ meta.IAM = (*Store)(nil)

var (
	qUserExists       = query(`SELECT EXISTS (SELECT 1 FROM users WHERE name = ?)`)
	qUser             = query(`SELECT created, policy FROM users WHERE name = ?`)
	qUsers            = query(`SELECT name, created, policy FROM users ORDER BY name`)
	qInsertUser       = query(`INSERT INTO users (name, created, policy) VALUES (?, ?, ?)`)
	qSetUserPolicy    = query(`UPDATE users SET policy = ? WHERE name = ?`)
	qDeleteUser       = query(`DELETE FROM users WHERE name = ?`)
	qDeleteUserKeys   = query(`DELETE FROM access_keys WHERE user_name = ?`)
	qDeleteUserTokens = query(`DELETE FROM tokens WHERE user_name = ?`)

	qSetKeyEnabled = query(`UPDATE access_keys SET enabled = ? WHERE id = ?`)
	qDeleteKey     = query(`DELETE FROM access_keys WHERE id = ?`)

	qTokenExists = query(`SELECT EXISTS (SELECT 1 FROM tokens WHERE id = ?)`)
	qToken       = query(`SELECT user_name, hash, created, expires, policy FROM tokens WHERE id = ?`)
	qTokens      = query(`SELECT id, user_name, hash, created, expires, policy FROM tokens ORDER BY user_name, id`)
	qInsertToken = query(`INSERT INTO tokens (id, user_name, hash, created, expires, policy) VALUES (?, ?, ?, ?, ?, ?)`)
	qDeleteToken = query(`DELETE FROM tokens WHERE id = ?`)

	// qBucketPolicy tells a missing bucket (no row) from a missing policy
	// (NULL) in one lookup.
	qBucketPolicy = query(`SELECT p.policy FROM buckets b LEFT JOIN bucket_policies p ON p.bucket = b.name
		WHERE b.name = ?`)
	qPutBucketPolicy = query(`INSERT INTO bucket_policies (bucket, policy) VALUES (?, ?)
		ON CONFLICT (bucket) DO UPDATE SET policy = excluded.policy`)
	qDeleteBucketPolicy = query(`DELETE FROM bucket_policies WHERE bucket = ?`)

	qSetting    = query(`SELECT value FROM settings WHERE name = ?`)
	qSetSetting = query(`INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`)
)

// policyValue binds a policy document: NULL for none (nil or empty).
func policyValue(p []byte) any {
	if len(p) == 0 {
		return nil
	}
	return p
}

// affected returns how many rows res changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// CreateUser creates a user: meta.ErrUserExists if the name is taken,
// including by the administrator, "root".
func (s *Store) CreateUser(ctx context.Context, u meta.User) error {
	if u.Name == rootUser {
		return fmt.Errorf("create user %q: %w (the administrator)", u.Name, meta.ErrUserExists)
	}
	return s.writeAnnounced(ctx, func(t *txn) error {
		ok, err := t.exists(qUserExists, u.Name)
		if err != nil {
			return fmt.Errorf("look up user %q: %w", u.Name, err)
		}
		if ok {
			return fmt.Errorf("create user %q: %w", u.Name, meta.ErrUserExists)
		}
		if _, err := t.exec(qInsertUser, u.Name, nanos(u.Created), policyValue(u.Policy)); err != nil {
			return fmt.Errorf("create user %q: %w", u.Name, err)
		}
		return nil
	})
}

// User returns the user's record: meta.ErrNoSuchUser.
func (s *Store) User(ctx context.Context, name string) (meta.User, error) {
	u := meta.User{Name: name}
	var created int64
	err := s.r.stmt(qUser).QueryRowContext(ctx, name).Scan(&created, &u.Policy)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.User{}, fmt.Errorf("user %q: %w", name, meta.ErrNoSuchUser)
	}
	if err != nil {
		return meta.User{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	u.Created = fromNanos(created)
	return u, nil
}

// Users returns all users sorted by name.
func (s *Store) Users(ctx context.Context) ([]meta.User, error) {
	rows, err := s.r.stmt(qUsers).QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var us []meta.User
	for rows.Next() {
		var u meta.User
		var created int64
		if err := rows.Scan(&u.Name, &created, &u.Policy); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Created = fromNanos(created)
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// DeleteUser deletes a user with its access keys and tokens:
// meta.ErrNoSuchUser.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		// A missing user ("root" among them) keeps the keys that carry
		// its name.
		ok, err := t.exists(qUserExists, name)
		if err != nil {
			return fmt.Errorf("look up user %q: %w", name, err)
		}
		if !ok {
			return fmt.Errorf("delete user %q: %w", name, meta.ErrNoSuchUser)
		}
		// Tokens before the user: they refer to it.
		for _, q := range []string{qDeleteUserTokens, qDeleteUserKeys, qDeleteUser} {
			if _, err := t.exec(q, name); err != nil {
				return fmt.Errorf("delete user %q: %w", name, err)
			}
		}
		return nil
	})
}

// SetUserPolicy replaces the user's policy, nil removes it:
// meta.ErrNoSuchUser.
func (s *Store) SetUserPolicy(ctx context.Context, name string, policy []byte) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		n, err := affected(t.exec(qSetUserPolicy, policyValue(policy), name))
		if err != nil {
			return fmt.Errorf("set policy of user %q: %w", name, err)
		}
		if n == 0 {
			return fmt.Errorf("set policy of user %q: %w", name, meta.ErrNoSuchUser)
		}
		return nil
	})
}

// SetAccessKeyEnabled enables or disables a key: meta.ErrNoSuchAccessKey.
func (s *Store) SetAccessKeyEnabled(ctx context.Context, id string, enabled bool) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		n, err := affected(t.exec(qSetKeyEnabled, enabled, id))
		if err != nil {
			return fmt.Errorf("update access key %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("update access key %q: %w", id, meta.ErrNoSuchAccessKey)
		}
		return nil
	})
}

// DeleteAccessKey deletes a key: meta.ErrNoSuchAccessKey.
func (s *Store) DeleteAccessKey(ctx context.Context, id string) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		n, err := affected(t.exec(qDeleteKey, id))
		if err != nil {
			return fmt.Errorf("delete access key %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("delete access key %q: %w", id, meta.ErrNoSuchAccessKey)
		}
		return nil
	})
}

// PutToken stores a new token: meta.ErrNoSuchUser unless its user exists
// (the administrator, having no user record, has no tokens). A token ID
// already in use is an error.
func (s *Store) PutToken(ctx context.Context, tok meta.Token) error {
	if len(tok.Hash) == 0 {
		return fmt.Errorf("put token %q: no hash", tok.ID)
	}
	return s.writeAnnounced(ctx, func(t *txn) error {
		ok, err := t.exists(qUserExists, tok.User)
		if err != nil {
			return fmt.Errorf("look up user %q: %w", tok.User, err)
		}
		if !ok {
			return fmt.Errorf("put token %q: user %q: %w", tok.ID, tok.User, meta.ErrNoSuchUser)
		}
		if ok, err = t.exists(qTokenExists, tok.ID); err != nil {
			return fmt.Errorf("look up token %q: %w", tok.ID, err)
		}
		if ok {
			return fmt.Errorf("put token %q: the ID is taken", tok.ID)
		}
		if _, err := t.exec(qInsertToken, tok.ID, tok.User, tok.Hash, nanos(tok.Created),
			nanos(tok.Expires), policyValue(tok.Policy)); err != nil {
			return fmt.Errorf("put token %q: %w", tok.ID, err)
		}
		return nil
	})
}

// tokenRow receives one token's columns.
type tokenRow struct {
	tok              meta.Token
	created, expires int64
}

func (r *tokenRow) dest() []any {
	return []any{&r.tok.User, &r.tok.Hash, &r.created, &r.expires, &r.tok.Policy}
}

func (r *tokenRow) finish() meta.Token {
	r.tok.Created = fromNanos(r.created)
	r.tok.Expires = fromNanos(r.expires)
	return r.tok
}

// Token returns the token with the given ID: meta.ErrNoSuchToken.
func (s *Store) Token(ctx context.Context, id string) (meta.Token, error) {
	r := tokenRow{tok: meta.Token{ID: id}}
	err := s.r.stmt(qToken).QueryRowContext(ctx, id).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return meta.Token{}, fmt.Errorf("token %q: %w", id, meta.ErrNoSuchToken)
	}
	if err != nil {
		return meta.Token{}, fmt.Errorf("look up token %q: %w", id, err)
	}
	return r.finish(), nil
}

// Tokens returns all tokens sorted by user, then ID.
func (s *Store) Tokens(ctx context.Context) ([]meta.Token, error) {
	rows, err := s.r.stmt(qTokens).QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var ts []meta.Token
	for rows.Next() {
		var r tokenRow
		if err := rows.Scan(append([]any{&r.tok.ID}, r.dest()...)...); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		ts = append(ts, r.finish())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// DeleteToken revokes a token: meta.ErrNoSuchToken.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		n, err := affected(t.exec(qDeleteToken, id))
		if err != nil {
			return fmt.Errorf("delete token %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("delete token %q: %w", id, meta.ErrNoSuchToken)
		}
		return nil
	})
}

// SetBucketPolicy stores the bucket's policy, nil removes it:
// meta.ErrNoSuchBucket.
func (s *Store) SetBucketPolicy(ctx context.Context, bucket string, policy []byte) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		if err := t.needBucket(bucket); err != nil {
			return err
		}
		var err error
		if len(policy) == 0 {
			_, err = t.exec(qDeleteBucketPolicy, bucket)
		} else {
			_, err = t.exec(qPutBucketPolicy, bucket, policy)
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
	err := s.r.stmt(qBucketPolicy).QueryRowContext(ctx, bucket).Scan(&policy)
	if errors.Is(err, sql.ErrNoRows) {
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
	var v string
	err := s.r.stmt(qSetting).QueryRowContext(ctx, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up setting %q: %w", name, err)
	}
	return v, nil
}

// SetSetting stores a server-wide setting.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	return s.writeAnnounced(ctx, func(t *txn) error {
		if _, err := t.exec(qSetSetting, name, value); err != nil {
			return fmt.Errorf("set setting %q: %w", name, err)
		}
		return nil
	})
}

// Generation returns the store's generation (meta.Announcer), shared with every process that
// has the database open: see gen.go. It costs one atomic load.
func (s *Store) Generation(ctx context.Context) (uint64, error) {
	g := s.gen.Load()
	if g == nil {
		return 0, errClosed
	}
	return g.load(), nil
}
