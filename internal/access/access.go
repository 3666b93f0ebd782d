// Package access answers the two questions every request asks, the same
// way for the S3 API and the binary-cache protocol: who is asking (an
// access key, a token, HTTP Basic credentials, or nobody), and may they do
// this (AWS policy evaluation over the user's policy, the token's policy
// and the bucket's policy).
//
// Users, keys, tokens and policies live in the metadata store, where the
// CLI may change them while the server runs. Parsed policies and looked-up
// keys are cached and the cache is dropped whenever the store's generation
// moves, so a change takes effect on the next request.
package access

import (
	"errors"
	"log/slog"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// DefaultAccount is the account id in ARNs unless configured otherwise.
const DefaultAccount = "000000000000"

// RootUser owns the admin credentials; it bypasses policies.
const RootUser = "root"

// Identity is who sent a request.
type Identity struct {
	Anonymous bool
	Root      bool
	User      string // IAM user name; "root" for Root
	AccessKey string // the signing key, when signed
	TokenID   string // the token, when a token was used
}

// Store is what access needs from the metadata store.
type Store interface {
	meta.IAM
	meta.Announcer
}

// Service authenticates and authorizes. Create it with New.
type Service struct {
	store   Store
	account string
	now     func() time.Time
	log     *slog.Logger
	cache   cache
}

// Options configure a Service.
type Options struct {
	Account string // default DefaultAccount
	Now     func() time.Time
	Log     *slog.Logger
}

// New returns a Service over store.
func New(store Store, opts Options) *Service {
	s := &Service{store: store, account: opts.Account, now: opts.Now, log: opts.Log}
	if s.account == "" {
		s.account = DefaultAccount
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.cache.init()
	return s
}

// Account is the account id used in ARNs.
func (s *Service) Account() string { return s.account }

// ErrDenied is returned (wrapped) when a request is not allowed.
var ErrDenied = errors.New("access denied")

// ErrBadCredentials is returned (wrapped) when credentials do not check out:
// an unknown or disabled key, a wrong secret, a revoked or expired token.
var ErrBadCredentials = errors.New("bad credentials")
