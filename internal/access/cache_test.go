package access_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

// roleKey tags a context with the name of the request it stands for, so
// hookStore can stop that request at a chosen point.
type roleKey struct{}

func role(ctx context.Context) string {
	s, _ := ctx.Value(roleKey{}).(string)
	return s
}

// hookStore lets a test interleave requests: a role's Generation can be
// pinned to a value read earlier (a request preempted between reading the
// generation and locking the cache), and its User and BucketPolicy calls
// can wait for the test after reading the database.
type hookStore struct {
	*sqlite.Store
	pinned   map[string]uint64        // role → the generation it read
	paused   map[string]chan struct{} // role → closed to let it go on
	arrived  chan string              // a paused role reached its hook
	canPause func(role, method string) bool
}

func (s *hookStore) Generation(ctx context.Context) (uint64, error) {
	if g, ok := s.pinned[role(ctx)]; ok {
		return g, nil
	}
	return s.Store.Generation(ctx)
}

func (s *hookStore) pause(ctx context.Context, method string) {
	r := role(ctx)
	if ch, ok := s.paused[r]; ok && s.canPause(r, method) {
		s.arrived <- r + " " + method
		<-ch
	}
}

func (s *hookStore) User(ctx context.Context, name string) (meta.User, error) {
	u, err := s.Store.User(ctx, name)
	s.pause(ctx, "User")
	return u, err
}

func (s *hookStore) BucketPolicy(ctx context.Context, bucket string) ([]byte, error) {
	p, err := s.Store.BucketPolicy(ctx, bucket)
	s.pause(ctx, "BucketPolicy")
	return p, err
}

// TestCacheStaleAfterChange interleaves three requests around a bucket
// policy's removal:
//
//   - A, an anonymous GET begun before the removal, has read the policy
//     and is about to cache it;
//   - the policy is removed; the generation moves from g0 to g1;
//   - E, begun after the removal, has set the cache to g1 and is loading
//     its user's policy;
//   - D, begun before the removal, read g0 and only now takes the cache
//     lock: it sees g1 != g0 and resets the cache to g0;
//   - A caches the removed policy under g0, which is again current;
//   - E looks the bucket policy up and finds the removed one.
//
// E began after the removal returned, so it must not see the policy.
func TestCacheStaleAfterChange(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, seed(t, "seed-anonymous-read.bucket.json"))
	alice := e.keyID(e.user("alice", ""))
	hs := &hookStore{
		Store:   e.store.Store,
		pinned:  map[string]uint64{},
		paused:  map[string]chan struct{}{"A": make(chan struct{}), "E": make(chan struct{})},
		arrived: make(chan string),
		canPause: func(role, method string) bool {
			return role == "A" && method == "BucketPolicy" || role == "E" && method == "User"
		},
	}
	svc := access.New(hs, access.Options{Now: e.clock.Now})
	ctxOf := func(r string) context.Context { return context.WithValue(e.ctx, roleKey{}, r) }
	obj := objectARN(narKey)

	g0, _ := hs.Generation(e.ctx)
	errA := make(chan error, 1)
	go func() { errA <- svc.Authorize(ctxOf("A"), request("GET", "/"), anonymous, "s3:GetObject", obj) }()
	if got := <-hs.arrived; got != "A BucketPolicy" {
		t.Fatalf("arrived %s, want A BucketPolicy", got)
	}

	if err := e.CLI().SetBucketPolicy(e.ctx, cacheBucket, nil); err != nil {
		t.Fatal(err)
	}

	errE := make(chan error, 1)
	go func() { errE <- svc.Authorize(ctxOf("E"), request("GET", "/"), alice, "s3:GetObject", obj) }()
	if got := <-hs.arrived; got != "E User" {
		t.Fatalf("arrived %s, want E User", got)
	}

	hs.pinned["D"] = g0 // D read g0 before the removal
	if _, err := svc.KeyIdentity(ctxOf("D"), alice.AccessKey); err != nil {
		t.Fatal(err)
	}

	close(hs.paused["A"])
	if err := <-errA; err != nil {
		t.Fatalf("A, begun before the removal: %v", err)
	}
	close(hs.paused["E"])
	if err := <-errE; err == nil {
		t.Error("E, begun after the bucket policy's removal, was allowed by it: " +
			"the cache's generation moved back to g0 (Service.current resets on any " +
			"difference) and lookup does not check it against the caller's generation")
	}
	// Requests that start later are right again.
	if svc.Authorize(e.ctx, request("GET", "/"), anonymous, "s3:GetObject", obj) == nil {
		t.Error("a later request was allowed by the removed policy")
	}
}

// TestConcurrentPolicyChanges changes a bucket policy through a second
// Store while goroutines authorize requests of every kind; after each
// change returned, a new request sees it. Run with -race, it also checks
// the cache's locking.
func TestConcurrentPolicyChanges(t *testing.T) {
	e := newEnv(t)
	anon := seed(t, "seed-anonymous-read.bucket.json")
	e.bucketPolicy(cacheBucket, anon)
	up := e.keyID(e.user("cache-upload", "seed-upload.iam.json"))
	tok, err := e.svc.TokenIdentity(e.ctx, e.token("cache-upload", 0, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for _, id := range []access.Identity{anonymous, up, tok, anonymous} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := e.svc.Authorize(e.ctx, request("GET", "/"), id, "s3:GetObject", objectARN(narKey))
				if err != nil && !errors.Is(err, access.ErrDenied) {
					errs <- err
					return
				}
				if err != nil && !id.Anonymous {
					errs <- fmt.Errorf("%s denied GetObject, which its own policy allows", id.User)
					return
				}
			}
		})
	}
	cli := e.CLI()
	for i := range 40 {
		doc := anon
		if i%2 == 0 {
			doc = nil
		}
		if err := cli.SetBucketPolicy(e.ctx, cacheBucket, doc); err != nil {
			t.Fatal(err)
		}
		if got := e.allowed(request("GET", "/"), anonymous, "s3:GetObject", objectARN(narKey)); got != (doc != nil) {
			t.Fatalf("change %d: anonymous read allowed = %v right after the policy was set to %q", i, got, doc)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
