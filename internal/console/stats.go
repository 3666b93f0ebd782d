package console

import (
	"context"
	"sync"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// stats keeps each bucket's CacheStats under the objects.Version it was
// read at, as graphs keeps graphs: the buckets page and every bucket page
// counted and summed the bucket's whole narinfo index per view, 0.4 to
// 0.8 s for a million paths on PostgreSQL, for anyone a public bucket lets
// in, as often as asked. A change to any object of the bucket, on any
// server, makes the next page read them again.
type stats struct {
	mu      sync.Mutex
	entries map[string]*statsEntry
}

type statsEntry struct {
	load sync.Mutex // held while reading
	ver  objects.Version
	ok   bool
	st   meta.CacheStats
}

// cacheStats returns the bucket's CacheStats, from memory while the bucket
// has not changed.
func (h *Handler) cacheStats(ctx context.Context, bucket string) (meta.CacheStats, error) {
	if h.objects == nil {
		return h.store.CacheStats(ctx, bucket)
	}
	ver, ok := h.objects.BucketVersion(ctx, bucket)
	if !ok {
		return h.store.CacheStats(ctx, bucket)
	}
	h.stats.mu.Lock()
	if h.stats.entries == nil {
		h.stats.entries = map[string]*statsEntry{}
	}
	e := h.stats.entries[bucket]
	if e == nil {
		e = &statsEntry{}
		h.stats.entries[bucket] = e
	}
	h.stats.mu.Unlock()
	e.load.Lock()
	defer e.load.Unlock()
	if e.ok && e.ver == ver {
		return e.st, nil
	}
	st, err := h.store.CacheStats(ctx, bucket)
	if err != nil {
		return st, err
	}
	e.st, e.ver, e.ok = st, ver, true
	return st, nil
}

// forgetStats drops the stats of the buckets exists reports gone.
func (h *Handler) forgetStats(exists func(bucket string) bool) {
	h.stats.mu.Lock()
	defer h.stats.mu.Unlock()
	for b := range h.stats.entries {
		if !exists(b) {
			delete(h.stats.entries, b)
		}
	}
}
