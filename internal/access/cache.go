package access

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/policy"
)

// cache holds what the store said under one generation. Entries loaded
// while the generation was g are only stored if it is still g, so a
// lookup racing a change can never leave stale data under a newer
// generation.
type cache struct {
	mu      sync.RWMutex
	gen     uint64
	keys    map[string]meta.AccessKey
	users   map[string]*policy.Policy // nil: the user has no policy
	buckets map[string]*policy.Policy // nil: the bucket has no policy
	tokens  map[string]tokenEntry
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
	c.keys = map[string]meta.AccessKey{}
	c.users = map[string]*policy.Policy{}
	c.buckets = map[string]*policy.Policy{}
	c.tokens = map[string]tokenEntry{}
}

// current makes the cache match the store's generation and returns it.
func (s *Service) current(ctx context.Context) (uint64, error) {
	gen, err := s.store.Generation(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading access generation: %w", err)
	}
	c := &s.cache
	c.mu.RLock()
	ok := c.gen == gen
	c.mu.RUnlock()
	if !ok {
		c.mu.Lock()
		if c.gen < gen { // never back: see TestCacheStaleAfterChange
			c.init()
			c.gen = gen
		}
		c.mu.Unlock()
	}
	return gen, nil
}

// lookup reads m()[k] under the read lock, if the cache is at gen.
func lookup[V any](c *cache, gen uint64, m func() map[string]V, k string) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.gen != gen {
		var zero V
		return zero, false
	}
	v, ok := m()[k]
	return v, ok
}

// remember stores m[k] = v if the generation is still gen.
func remember[V any](c *cache, gen uint64, m func() map[string]V, k string, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	mm := m()
	if len(mm) >= maxEntries {
		clear(mm)
	}
	mm[k] = v
}

// accessKey returns an access key, from the cache when current.
func (s *Service) accessKey(ctx context.Context, id string) (meta.AccessKey, error) {
	gen, err := s.current(ctx)
	if err != nil {
		return meta.AccessKey{}, err
	}
	if k, ok := lookup(&s.cache, gen, func() map[string]meta.AccessKey { return s.cache.keys }, id); ok {
		if k.ID == "" {
			return meta.AccessKey{}, fmt.Errorf("access key %s: %w", id, meta.ErrNoSuchAccessKey)
		}
		return k, nil
	}
	k, err := s.store.AccessKey(ctx, id)
	if errors.Is(err, meta.ErrNoSuchAccessKey) {
		// A miss is remembered like a hit (as a key with no ID), so an
		// unknown key costs what a known one does: no database round
		// trip that would tell them apart.
		remember(&s.cache, gen, func() map[string]meta.AccessKey { return s.cache.keys }, id, meta.AccessKey{})
		return meta.AccessKey{}, err
	}
	if err != nil {
		return meta.AccessKey{}, err
	}
	remember(&s.cache, gen, func() map[string]meta.AccessKey { return s.cache.keys }, id, k)
	return k, nil
}

// userPolicy returns a user's parsed identity policy, nil for none.
func (s *Service) userPolicy(ctx context.Context, gen uint64, name string) (*policy.Policy, error) {
	if p, ok := lookup(&s.cache, gen, func() map[string]*policy.Policy { return s.cache.users }, name); ok {
		return p, nil
	}
	u, err := s.store.User(ctx, name)
	if errors.Is(err, meta.ErrNoSuchUser) {
		return nil, fmt.Errorf("%w: user %q no longer exists", ErrBadCredentials, name)
	}
	if err != nil {
		return nil, err
	}
	var p *policy.Policy
	if u.Policy != nil {
		if p, err = policy.ParseIdentity(u.Policy); err != nil {
			// Stored policies were validated; one that no longer parses
			// grants nothing rather than failing every request.
			s.log.Error("user policy does not parse; ignoring it", "user", name, "err", err)
			p = nil
		}
	}
	remember(&s.cache, gen, func() map[string]*policy.Policy { return s.cache.users }, name, p)
	return p, nil
}

// bucketPolicy returns a bucket's parsed policy, nil for none.
func (s *Service) bucketPolicy(ctx context.Context, gen uint64, bucket string) (*policy.Policy, error) {
	if p, ok := lookup(&s.cache, gen, func() map[string]*policy.Policy { return s.cache.buckets }, bucket); ok {
		return p, nil
	}
	doc, err := s.store.BucketPolicy(ctx, bucket)
	var p *policy.Policy
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
	remember(&s.cache, gen, func() map[string]*policy.Policy { return s.cache.buckets }, bucket, p)
	return p, nil
}

// token returns a token and its parsed policy.
func (s *Service) token(ctx context.Context, gen uint64, id string) (tokenEntry, error) {
	if e, ok := lookup(&s.cache, gen, func() map[string]tokenEntry { return s.cache.tokens }, id); ok {
		if e.missing {
			return tokenEntry{}, fmt.Errorf("token %s: %w", id, meta.ErrNoSuchToken)
		}
		return e, nil
	}
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, meta.ErrNoSuchToken) {
		// Remembered like a hit, for the reason accessKey gives.
		remember(&s.cache, gen, func() map[string]tokenEntry { return s.cache.tokens }, id, tokenEntry{missing: true})
		return tokenEntry{}, err
	}
	if err != nil {
		return tokenEntry{}, err
	}
	e := tokenEntry{tok: t}
	if t.Policy != nil {
		if e.policy, err = policy.ParseIdentity(t.Policy); err != nil {
			// A token whose narrowing policy is unreadable must not be
			// used with its user's full rights.
			return tokenEntry{}, fmt.Errorf("%w: token %s policy: %v", ErrBadCredentials, id, err)
		}
	}
	remember(&s.cache, gen, func() map[string]tokenEntry { return s.cache.tokens }, id, e)
	return e, nil
}
