package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/gencache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/policy"
)

// cache holds what the store said, each map valid while the store's
// generation has not moved (see gencache: a lookup racing a change can
// never leave stale data under a newer generation).
type cache struct {
	keys    gencache.Cache[string, meta.AccessKey]
	users   gencache.Cache[string, *policy.Policy] // nil: the user has no policy
	buckets gencache.Cache[string, *policy.Policy] // nil: the bucket has no policy
	tokens  gencache.Cache[string, tokenEntry]
}

type tokenEntry struct {
	tok    meta.Token
	policy *policy.Policy
	// missing marks a remembered miss: there is no such token.
	missing bool
}

// maxEntries bounds each map; past it the map is emptied and refilled on
// demand.
const maxEntries = 10000

func (c *cache) init() {
	c.keys.MaxCost = maxEntries
	c.users.MaxCost = maxEntries
	c.buckets.MaxCost = maxEntries
	c.tokens.MaxCost = maxEntries
}

// current returns the store's generation, read before any load that
// is cached under it.
func (s *Service) current(ctx context.Context) (uint64, error) {
	gen, err := s.store.Generation(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading access generation: %w", err)
	}
	return gen, nil
}

// testHookFill, if set, runs after a load from the store and before its
// answer is offered to the cache: tests stop a lookup there.
var testHookFill func(ctx context.Context, what, name string)

// fill offers v, loaded after the Get that gave t, to c.
func fill[V any](ctx context.Context, c *gencache.Cache[string, V], t gencache.Ticket, what, name string, v V) {
	if testHookFill != nil {
		testHookFill(ctx, what, name)
	}
	c.Put(t, name, v)
}

// accessKey returns an access key, from the cache when current.
func (s *Service) accessKey(ctx context.Context, id string) (meta.AccessKey, error) {
	gen, err := s.current(ctx)
	if err != nil {
		return meta.AccessKey{}, err
	}
	k, t, ok := s.cache.keys.Get(gen, id)
	if ok {
		if k.ID == "" {
			return meta.AccessKey{}, fmt.Errorf("access key %s: %w", id, meta.ErrNoSuchAccessKey)
		}
		return k, nil
	}
	k, err = s.store.AccessKey(ctx, id)
	if errors.Is(err, meta.ErrNoSuchAccessKey) {
		// A miss is remembered like a hit (as a key with no ID), so an
		// unknown key costs what a known one does: no database round
		// trip that would tell them apart.
		fill(ctx, &s.cache.keys, t, "key", id, meta.AccessKey{})
		return meta.AccessKey{}, err
	}
	if err != nil {
		return meta.AccessKey{}, err
	}
	fill(ctx, &s.cache.keys, t, "key", id, k)
	return k, nil
}

// userPolicy returns a user's parsed identity policy, nil for none.
func (s *Service) userPolicy(ctx context.Context, gen uint64, name string) (*policy.Policy, error) {
	p, t, ok := s.cache.users.Get(gen, name)
	if ok {
		return p, nil
	}
	u, err := s.store.User(ctx, name)
	if errors.Is(err, meta.ErrNoSuchUser) {
		return nil, fmt.Errorf("%w: user %q no longer exists", ErrBadCredentials, name)
	}
	if err != nil {
		return nil, err
	}
	p = nil
	if u.Policy != nil {
		if p, err = policy.ParseIdentity(u.Policy); err != nil {
			// Stored policies were validated; one that no longer parses
			// grants nothing rather than failing every request.
			s.log.Error("user policy does not parse; ignoring it", "user", name, "err", err)
			p = nil
		}
	}
	fill(ctx, &s.cache.users, t, "user", name, p)
	return p, nil
}

// bucketPolicy returns a bucket's parsed policy, nil for none.
func (s *Service) bucketPolicy(ctx context.Context, gen uint64, bucket string) (*policy.Policy, error) {
	p, t, ok := s.cache.buckets.Get(gen, bucket)
	if ok {
		return p, nil
	}
	doc, err := s.store.BucketPolicy(ctx, bucket)
	switch {
	case errors.Is(err, meta.ErrNoSuchBucketPolicy), errors.Is(err, meta.ErrNoSuchBucket):
	case err != nil:
		return nil, err
	default:
		if p, err = policy.ParseBucket(doc); err != nil {
			s.log.Error("bucket policy does not parse; ignoring it", "bucket", bucket, "err", err)
			p = nil
		}
	}
	fill(ctx, &s.cache.buckets, t, "bucket", bucket, p)
	return p, nil
}

// token returns a token and its parsed policy.
func (s *Service) token(ctx context.Context, gen uint64, id string) (tokenEntry, error) {
	e, tk, ok := s.cache.tokens.Get(gen, id)
	if ok {
		if e.missing {
			return tokenEntry{}, fmt.Errorf("token %s: %w", id, meta.ErrNoSuchToken)
		}
		return e, nil
	}
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, meta.ErrNoSuchToken) {
		// Remembered like a hit, for the reason accessKey gives.
		fill(ctx, &s.cache.tokens, tk, "token", id, tokenEntry{missing: true})
		return tokenEntry{}, err
	}
	if err != nil {
		return tokenEntry{}, err
	}
	e = tokenEntry{tok: t}
	if t.Policy != nil {
		if e.policy, err = policy.ParseIdentity(t.Policy); err != nil {
			// A token whose narrowing policy is unreadable must not be
			// used with its user's full rights.
			return tokenEntry{}, fmt.Errorf("%w: token %s policy: %v", ErrBadCredentials, id, err)
		}
	}
	fill(ctx, &s.cache.tokens, tk, "token", id, e)
	return e, nil
}
