package access

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// validUserName is IAM's rule for user names.
var validUserName = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// ErrInvalidName is returned (wrapped) for a user name IAM would refuse.
var ErrInvalidName = errors.New("invalid user name")

// CreateUser creates a user with an optional identity policy and a first
// access key, which it returns.
func (s *Service) CreateUser(ctx context.Context, name string, policy []byte) (meta.AccessKey, error) {
	if !validUserName.MatchString(name) || name == RootUser {
		return meta.AccessKey{}, fmt.Errorf("%w: %q (1-64 of letters, digits and +=,.@_-; not %q)", ErrInvalidName, name, RootUser)
	}
	if policy != nil {
		if err := ValidateIdentityPolicy(policy); err != nil {
			return meta.AccessKey{}, err
		}
	}
	if err := s.store.CreateUser(ctx, meta.User{Name: name, Created: s.now().UTC(), Policy: policy}); err != nil {
		return meta.AccessKey{}, err
	}
	return s.CreateKey(ctx, name)
}

// SetUserPolicy validates and stores a user's policy; nil removes it.
func (s *Service) SetUserPolicy(ctx context.Context, name string, policy []byte) error {
	if policy != nil {
		if err := ValidateIdentityPolicy(policy); err != nil {
			return err
		}
	}
	return s.store.SetUserPolicy(ctx, name, policy)
}

// CreateKey adds an access key to a user (several keys allow rotation).
func (s *Service) CreateKey(ctx context.Context, user string) (meta.AccessKey, error) {
	if user != RootUser {
		if _, err := s.store.User(ctx, user); err != nil {
			return meta.AccessKey{}, err
		}
	}
	k := meta.AccessKey{ID: NewAccessKeyID(), Secret: NewSecret(), User: user, Created: s.now().UTC(), Enabled: true}
	return k, s.store.PutAccessKey(ctx, k)
}

// CreateToken makes a token for user, valid for ttl (0: no expiry) and
// narrowed by policy when not nil. It returns the token's text, which is
// shown once and stored only as a hash.
func (s *Service) CreateToken(ctx context.Context, user string, ttl time.Duration, policy []byte) (string, meta.Token, error) {
	if policy != nil {
		if err := ValidateIdentityPolicy(policy); err != nil {
			return "", meta.Token{}, err
		}
	}
	id, text, hash := NewToken()
	t := meta.Token{ID: id, User: user, Hash: hash, Created: s.now().UTC(), Policy: policy}
	if ttl > 0 {
		t.Expires = t.Created.Add(ttl)
	}
	if err := s.store.PutToken(ctx, t); err != nil {
		return "", meta.Token{}, err
	}
	return text, t, nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func random(alphabet string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)] // alphabets of 32 or 64: unbiased
	}
	return string(b)
}

// NewAccessKeyID returns a fresh AWS-shaped access key id (20 characters).
func NewAccessKeyID() string { return "NB" + random(idAlphabet, 18) }

// NewSecret returns a fresh 40-character secret access key.
func NewSecret() string { return random(secretAlphabet, 40) }
