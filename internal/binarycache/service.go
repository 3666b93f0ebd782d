package binarycache

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/gencache"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// Store is what the serving side needs from the metadata store.
type Store interface {
	Keys
	CacheSettings(ctx context.Context, bucket string) (meta.CacheSettings, error)
	// The generation announces every change of cache settings, in any
	// process.
	meta.Announcer
	TouchNarinfos(ctx context.Context, bucket string, hashes []string, at time.Time) error
}

// Service is the binary-cache side of serving: the synthesised
// nix-cache-info and batched last-access times of narinfos.
type Service struct {
	Store Store
	Log   *slog.Logger

	mu      sync.Mutex
	touched map[string]map[string]time.Time // bucket → hash → last read

	infosOnce sync.Once
	infos     gencache.Cache[string, []byte] // bucket → nix-cache-info
}

// maxInfos bounds the remembered nix-cache-infos (one per bucket).
const maxInfos = 4096

// CacheInfo is the nix-cache-info of a bucket that holds none. Every Nix
// process reads it first, so it is remembered until the settings'
// generation moves (a `bucket set`, in this process or another).
func (s *Service) CacheInfo(ctx context.Context, bucket string) ([]byte, error) {
	gen, err := s.Store.Generation(ctx)
	if err != nil {
		return nil, err
	}
	s.infosOnce.Do(func() { s.infos.MaxCost = maxInfos })
	info, t, ok := s.infos.Get(gen, bucket)
	if ok {
		return info, nil
	}
	st, err := s.Store.CacheSettings(ctx, bucket)
	if err != nil {
		return nil, err
	}
	info = Info(st)
	s.infos.Put(t, bucket, info)
	return info, nil
}

// Touch records that a narinfo was read. Reads are batched: Run writes
// them out periodically, so a GET costs no metadata write.
func (s *Service) Touch(bucket, key string) {
	if !IsNarinfoKey(key) {
		return
	}
	hash := strings.TrimSuffix(key, ".narinfo")
	now := time.Now()
	s.mu.Lock()
	if s.touched == nil {
		s.touched = map[string]map[string]time.Time{}
	}
	m := s.touched[bucket]
	if m == nil {
		m = map[string]time.Time{}
		s.touched[bucket] = m
	}
	m[hash] = now
	s.mu.Unlock()
}

// TouchInterval is how often Run writes out last-access times.
const TouchInterval = 10 * time.Second

// Run writes out last-access times every TouchInterval until ctx ends,
// then once more.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(TouchInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.Flush(context.WithoutCancel(ctx))
		case <-ctx.Done():
			s.Flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// Flush writes out the recorded reads, one transaction per bucket.
func (s *Service) Flush(ctx context.Context) {
	s.mu.Lock()
	batch := s.touched
	s.touched = nil
	s.mu.Unlock()
	for bucket, m := range batch {
		var at time.Time
		hashes := make([]string, 0, len(m))
		for h, t := range m {
			hashes = append(hashes, h)
			if t.After(at) {
				at = t
			}
		}
		if err := s.Store.TouchNarinfos(ctx, bucket, hashes, at); err != nil && s.Log != nil {
			s.Log.Warn("recording narinfo reads", "bucket", bucket, "paths", len(hashes), "err", err)
		}
	}
}
