package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Secret returns an enabled access key's secret, for signature checks.
// An unknown or disabled key gives ErrBadCredentials.
func (s *Service) Secret(ctx context.Context, id string) (string, error) {
	k, err := s.enabledKey(ctx, id)
	if err != nil {
		return "", err
	}
	return k.Secret, nil
}

func (s *Service) enabledKey(ctx context.Context, id string) (meta.AccessKey, error) {
	k, err := s.accessKey(ctx, id)
	if errors.Is(err, meta.ErrNoSuchAccessKey) {
		return meta.AccessKey{}, errWrongKey
	}
	if err != nil {
		return meta.AccessKey{}, err
	}
	if !k.Enabled {
		return meta.AccessKey{}, errWrongKey
	}
	return k, nil
}

// errWrongKey and errWrongToken are the only answers to bad credentials
// before the secret is known to be right: an unknown, disabled or revoked
// id and a wrong secret read alike, so nobody can probe which ids exist.
var (
	errWrongKey   = fmt.Errorf("%w: unknown access key or wrong secret", ErrBadCredentials)
	errWrongToken = fmt.Errorf("%w: unknown token or wrong secret", ErrBadCredentials)
)

// dummySecret and dummyHash stand in for the secret of an unknown key or
// token, so refusing one compares as much as refusing a wrong secret.
var (
	dummySecret = strings.Repeat("x", 40)
	dummyHash   = make([]byte, sha256.Size)
)

// KeyIdentity is the identity behind a verified access key.
func (s *Service) KeyIdentity(ctx context.Context, id string) (Identity, error) {
	k, err := s.enabledKey(ctx, id)
	if err != nil {
		return Identity{}, err
	}
	return Identity{Root: k.User == RootUser, User: k.User, AccessKey: id}, nil
}

// TokenPrefix starts every token, so tokens are recognisable in a netrc
// file, in logs and by secret scanners.
const TokenPrefix = "nbt_"

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// NewToken returns a fresh token's id, its secret text (what the user gets)
// and the hash to store.
func NewToken() (id, text string, hash []byte) {
	id = random(tokenAlphabet, 12)
	secret := random(tokenAlphabet, 40)
	sum := sha256.Sum256([]byte(secret))
	return id, TokenPrefix + id + "_" + secret, sum[:]
}

// TokenID returns the id a token's text ("nbt_ID_SECRET") starts with,
// "" when text is no token: what logs may say of a token, never its
// secret.
func TokenID(text string) string {
	rest, ok := strings.CutPrefix(text, TokenPrefix)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "_")
	return id
}

// parseToken splits a token's text into its id and secret.
func parseToken(text string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(text, TokenPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && id != "" && secret != ""
}

// TokenIdentity checks a token's text; user, when not empty, must be the
// token's user (the login of HTTP Basic credentials).
func (s *Service) TokenIdentity(ctx context.Context, text, user string) (Identity, error) {
	id, secret, ok := parseToken(text)
	if !ok {
		return Identity{}, fmt.Errorf("%w: malformed token", ErrBadCredentials)
	}
	gen, err := s.current(ctx)
	if err != nil {
		return Identity{}, err
	}
	e, err := s.token(ctx, gen, id)
	known := err == nil
	if errors.Is(err, meta.ErrNoSuchToken) || errors.Is(err, ErrBadCredentials) {
		e = tokenEntry{tok: meta.Token{Hash: dummyHash}}
	} else if err != nil {
		return Identity{}, err
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], e.tok.Hash) != 1 || !known {
		return Identity{}, errWrongToken
	}
	if !e.tok.Expires.IsZero() && s.now().After(e.tok.Expires) {
		return Identity{}, fmt.Errorf("%w: token %s expired at %s", ErrBadCredentials, id, e.tok.Expires.UTC().Format("2006-01-02 15:04:05Z"))
	}
	if user != "" && user != e.tok.User {
		return Identity{}, fmt.Errorf("%w: token %s does not belong to %q", ErrBadCredentials, id, user)
	}
	return Identity{User: e.tok.User, TokenID: id}, nil
}

// HTTPIdentity authenticates the credentials plain-HTTP clients send:
// "Authorization: Bearer TOKEN", or HTTP Basic (what a netrc file gives Nix)
// with either a user name and a token, or an access key id and its secret.
// ok is false when r carries neither kind.
func (s *Service) HTTPIdentity(ctx context.Context, r *http.Request) (id Identity, ok bool, err error) {
	auth := headerValue(r.Header, "Authorization")
	scheme, rest, _ := strings.Cut(auth, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		id, err = s.TokenIdentity(ctx, strings.TrimSpace(rest), "")
		return id, true, err
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok {
			return Identity{}, true, fmt.Errorf("%w: malformed Basic credentials", ErrBadCredentials)
		}
		if strings.HasPrefix(pass, TokenPrefix) {
			if user == "" {
				return Identity{}, true, fmt.Errorf("%w: Basic credentials with a token need the user's name as login", ErrBadCredentials)
			}
			id, err = s.TokenIdentity(ctx, pass, user)
			return id, true, err
		}
		k, err := s.enabledKey(ctx, user)
		known := err == nil
		if errors.Is(err, ErrBadCredentials) {
			k.Secret = dummySecret
		} else if err != nil {
			return Identity{}, true, err
		}
		if subtle.ConstantTimeCompare([]byte(pass), []byte(k.Secret)) != 1 || !known {
			return Identity{}, true, errWrongKey
		}
		return Identity{Root: k.User == RootUser, User: k.User, AccessKey: user}, true, nil
	}
	return Identity{}, false, nil
}
