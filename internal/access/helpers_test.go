package access_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/policy"
)

// The bucket of the seed policies, and another one.
const (
	cacheBucket = "example-nix-cache"
	otherBucket = "other-bucket"
)

const (
	narKey     = "nar/1w1fff338fvdw53sqgamddi1b2xgawbnhv0ahcz98n7kn8nd7b4a.nar.xz"
	narinfoKey = "0aaf7mhrfqigdmdfd2m9wkpz6qfgkhbf.narinfo"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore counts the lookups that reach the database, so tests can
// tell a cache hit from a miss.
type countingStore struct {
	*sqlite.Store
	keys, users, buckets, tokens atomic.Int64
}

func (s *countingStore) AccessKey(ctx context.Context, id string) (meta.AccessKey, error) {
	s.keys.Add(1)
	return s.Store.AccessKey(ctx, id)
}

func (s *countingStore) User(ctx context.Context, name string) (meta.User, error) {
	s.users.Add(1)
	return s.Store.User(ctx, name)
}

func (s *countingStore) BucketPolicy(ctx context.Context, bucket string) ([]byte, error) {
	s.buckets.Add(1)
	return s.Store.BucketPolicy(ctx, bucket)
}

func (s *countingStore) Token(ctx context.Context, id string) (meta.Token, error) {
	s.tokens.Add(1)
	return s.Store.Token(ctx, id)
}

// env is a Service over a fresh SQLite store holding the seed's bucket and
// another one.
type env struct {
	tb    testing.TB
	ctx   context.Context
	path  string
	store *countingStore
	svc   *access.Service
	clock *clock
	cli   *sqlite.Store // see CLI
}

func newEnv(tb testing.TB) *env { return newEnvOpts(tb, access.Options{}) }

// newEnvOpts is newEnv with options; a nil Now is set to the env's clock.
func newEnvOpts(tb testing.TB, opts access.Options) *env {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "meta.db")
	st, err := sqlite.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	e := &env{
		tb:    tb,
		ctx:   context.Background(),
		path:  path,
		store: &countingStore{Store: st},
		clock: &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)},
	}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	e.svc = access.New(e.store, opts)
	for _, b := range []string{cacheBucket, otherBucket} {
		if err := st.CreateBucket(e.ctx, meta.Bucket{Name: b, Created: e.clock.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	return e
}

// CLI returns a second Store on the same database, as the nixbucket CLI
// opens while the server runs.
func (e *env) CLI() *sqlite.Store {
	if e.cli == nil {
		s, err := sqlite.Open(e.path)
		if err != nil {
			e.tb.Fatal(err)
		}
		e.tb.Cleanup(func() { s.Close() })
		e.cli = s
	}
	return e.cli
}

// user creates a user with the named testdata policy ("" for none) and
// returns its first key.
func (e *env) user(name, policyFile string) meta.AccessKey {
	e.tb.Helper()
	var doc []byte
	if policyFile != "" {
		doc = seed(e.tb, policyFile)
	}
	k, err := e.svc.CreateUser(e.ctx, name, doc)
	if err != nil {
		e.tb.Fatalf("CreateUser(%q): %v", name, err)
	}
	return k
}

// userDoc creates a user with an inline policy document.
func (e *env) userDoc(name, doc string) meta.AccessKey {
	e.tb.Helper()
	k, err := e.svc.CreateUser(e.ctx, name, []byte(doc))
	if err != nil {
		e.tb.Fatalf("CreateUser(%q): %v", name, err)
	}
	return k
}

// bucketPolicy sets a bucket policy through the Service.
func (e *env) bucketPolicy(bucket string, doc []byte) {
	e.tb.Helper()
	if err := e.svc.SetBucketPolicy(e.ctx, bucket, doc); err != nil {
		e.tb.Fatalf("SetBucketPolicy(%s): %v", bucket, err)
	}
}

// token creates a token and returns its text.
func (e *env) token(user string, ttl time.Duration, doc string) string {
	e.tb.Helper()
	var p []byte
	if doc != "" {
		p = []byte(doc)
	}
	text, _, err := e.svc.CreateToken(e.ctx, user, ttl, p)
	if err != nil {
		e.tb.Fatalf("CreateToken(%q): %v", user, err)
	}
	return text
}

// keyID authenticates k as a signed request would.
func (e *env) keyID(k meta.AccessKey) access.Identity {
	e.tb.Helper()
	id, err := e.svc.KeyIdentity(e.ctx, k.ID)
	if err != nil {
		e.tb.Fatalf("KeyIdentity(%s): %v", k.ID, err)
	}
	return id
}

// allowed runs Authorize and reports nil as true, ErrDenied as false, and
// fails on any other error.
func (e *env) allowed(r *http.Request, id access.Identity, action, resource string) bool {
	e.tb.Helper()
	return e.decided(e.svc.Authorize(e.ctx, r, id, action, resource), id, action, resource)
}

// allowedList is allowed for a ListObjects request r (AuthorizeList).
func (e *env) allowedList(r *http.Request, id access.Identity, action, resource string) bool {
	e.tb.Helper()
	return e.decided(e.svc.AuthorizeList(e.ctx, r, id, "s3:ListBucket", resource), id, action, resource)
}

func (e *env) decided(err error, id access.Identity, action, resource string) bool {
	e.tb.Helper()
	switch {
	case err == nil:
		return true
	case errors.Is(err, access.ErrDenied):
		return false
	}
	e.tb.Fatalf("Authorize(%+v, %s, %s): unexpected error %v", id, action, resource, err)
	return false
}

func seed(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var anonymous = access.Identity{Anonymous: true}

// request builds an incoming request: target is a path with an optional
// query; opts adjust it.
func request(method, target string, opts ...func(*http.Request)) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, o := range opts {
		o(r)
	}
	return r
}

func from(addr string) func(*http.Request) {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

func overTLS(r *http.Request) { r.TLS = &tls.ConnectionState{} }

func header(name, value string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func objectARN(key string) string { return policy.ObjectARN(cacheBucket, key) }

var bucketARN = policy.BucketARN(cacheBucket)
