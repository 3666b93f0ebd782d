package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// keyTTL is how long a looked-up access key is trusted before the store is
// asked again: a disabled or deleted key stops working within it.
const keyTTL = 2 * time.Second

// keyCache keeps recently used access keys in memory, so signature checks
// on the hot path do not query the metadata store.
type keyCache struct {
	store meta.Store
	now   func() time.Time
	mu    sync.RWMutex
	keys  map[string]cachedKey
}

type cachedKey struct {
	key     meta.AccessKey
	fetched time.Time
}

func newKeyCache(store meta.Store) *keyCache {
	return &keyCache{store: store, now: time.Now, keys: map[string]cachedKey{}}
}

// secret returns an enabled key's secret, for sigv4.Verifier.Lookup.
func (c *keyCache) secret(ctx context.Context, id string) (string, error) {
	k, err := c.get(ctx, id)
	if err != nil {
		return "", err
	}
	return k.Secret, nil
}

func (c *keyCache) get(ctx context.Context, id string) (meta.AccessKey, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.keys[id]
	c.mu.RUnlock()
	if !ok || now.Sub(e.fetched) > keyTTL {
		k, err := c.store.AccessKey(ctx, id)
		if err != nil {
			return meta.AccessKey{}, fmt.Errorf("%w: %v", sigv4.ErrUnknownKey, err)
		}
		e = cachedKey{key: k, fetched: now}
		c.mu.Lock()
		if len(c.keys) > 10000 {
			clear(c.keys) // bound memory; refilled on demand
		}
		c.keys[id] = e
		c.mu.Unlock()
	}
	if !e.key.Enabled {
		return meta.AccessKey{}, fmt.Errorf("%w: %s is disabled", sigv4.ErrUnknownKey, id)
	}
	return e.key, nil
}
