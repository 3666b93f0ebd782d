package objects

import (
	"context"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// absent answers "no such key" without the metadata store: per bucket, a
// Bloom filter of every key the bucket has held since the filter was
// built. A key the filter has never seen is certainly missing. Substituters
// mostly ask for paths a cache lacks, each once, so neither the memo (which
// remembers answers) nor the store (a query each) serves them well.
//
// A bucket's filter is built in the background on its first miss: it is
// registered first, so every write from then on adds its key, then the
// writes already under way are waited for, then the bucket's keys are
// scanned in. Only then is it consulted. A write adds its key before its
// metadata commits, so a reader that the filter tells "absent" read it
// before the write was visible. Deleted keys stay in the filter (a query
// answers them); past its capacity a filter is rebuilt twice the size.
// Like the memo, it knows only this Service's writes and what Watch
// reports of others' (watch.go), so NoMemo turns it off where others
// write without Watch.
type absent struct {
	mu      sync.RWMutex
	filters map[string]*keyFilter
	// writes is held shared by each write from adding its key until its
	// metadata commits, and exclusively for a moment by a new filter, to
	// wait for the writes that began before it was registered.
	writes sync.RWMutex
}

// keyFilter is a Bloom filter safe for concurrent adds and tests.
type keyFilter struct {
	words    []atomic.Uint64
	mask     uint64 // bit count - 1; the count is a power of two
	adds     atomic.Int64
	capacity int64 // adds after which the false-positive rate passes ~1%
	ready    atomic.Bool
	building atomic.Bool
}

// Filter geometry: bitsPerKey bits per key when built, so it can take
// twice its keys before reaching ~1% false positives at filterProbes probes.
const (
	bitsPerKey           = 20
	filterProbes         = 6
	defaultMinFilterBits = 1 << 16 // 8 KiB: many small buckets stay cheap
	maxFilterBits        = 1 << 30 // 128 MiB; beyond it the false-positive rate grows
	scanPage             = 5000
)

var filterSeed = maphash.MakeSeed()

// minFilterBits is the smallest filter; tests lower it to force rebuilds.
var minFilterBits int64 = defaultMinFilterBits

func newKeyFilter(keys int64) *keyFilter {
	n := uint64(max(keys*bitsPerKey, minFilterBits))
	n = min(uint64(1)<<bits.Len64(n-1), maxFilterBits)
	return &keyFilter{words: make([]atomic.Uint64, n/64), mask: n - 1, capacity: int64(n / 10)}
}

func (f *keyFilter) add(key string) {
	h1, h2 := probes(key)
	for i := range uint64(filterProbes) {
		b := (h1 + i*h2) & f.mask
		w := &f.words[b/64]
		if bit := uint64(1) << (b % 64); w.Load()&bit == 0 {
			w.Or(bit)
		}
	}
	f.adds.Add(1)
}

func (f *keyFilter) mayContain(key string) bool {
	h1, h2 := probes(key)
	for i := range uint64(filterProbes) {
		b := (h1 + i*h2) & f.mask
		if f.words[b/64].Load()&(uint64(1)<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// probes derives the probe sequence (double hashing) from one hash.
func probes(key string) (h1, h2 uint64) {
	h := maphash.String(filterSeed, key)
	return h, bits.RotateLeft64(h, 32) | 1
}

// excludes reports whether key is certainly not in bucket: false when
// the bucket has no ready filter. A full filter is rebuilt.
func (s *Service) excludes(bucket, key string) bool {
	a := &s.absent
	a.mu.RLock()
	f := a.filters[bucket]
	a.mu.RUnlock()
	if f == nil || !f.ready.Load() {
		return false
	}
	if n := f.adds.Load(); n > f.capacity {
		s.buildFilter(bucket, n)
		return false
	}
	return !f.mayContain(key)
}

// buildFilter registers a new filter for bucket, unless it has one that
// is being built or not full, and fills it in the background. Callers
// know the bucket exists: a query found a key missing in it.
func (s *Service) buildFilter(bucket string, keys int64) {
	a := &s.absent
	a.mu.Lock()
	old := a.filters[bucket]
	if old != nil && (old.building.Load() || old.adds.Load() <= old.capacity) {
		a.mu.Unlock()
		return
	}
	if a.filters == nil {
		a.filters = map[string]*keyFilter{}
	}
	f := newKeyFilter(keys)
	f.building.Store(true)
	a.filters[bucket] = f
	a.mu.Unlock()
	go func() {
		// Writes that began before f was registered did not add to it:
		// wait for them to commit, so the scan sees them.
		a.writes.Lock()
		a.writes.Unlock()
		if err := s.fillFilter(context.Background(), bucket, f); err != nil {
			s.log().Warn("building the filter of missing keys", "bucket", bucket, "err", err)
			a.mu.Lock()
			if a.filters[bucket] == f {
				delete(a.filters, bucket)
			}
			a.mu.Unlock()
			return
		}
		f.ready.Store(true)
		f.building.Store(false)
	}()
}

func (s *Service) fillFilter(ctx context.Context, bucket string, f *keyFilter) error {
	if _, err := s.Meta.Bucket(ctx, bucket); err != nil {
		return err
	}
	q := meta.ScanQuery{Bucket: bucket, Limit: scanPage}
	for {
		objs, err := s.Meta.ScanObjects(ctx, q)
		if err != nil {
			return err
		}
		for _, o := range objs {
			f.add(o.Key)
		}
		if len(objs) < scanPage {
			return nil
		}
		q.After = objs[len(objs)-1].Key
	}
}

// adding is called before a write's metadata commits; the returned func
// after it commits (or fails).
func (s *Service) adding(bucket, key string) func() {
	if s.NoMemo {
		return func() {}
	}
	a := &s.absent
	a.writes.RLock()
	a.mu.RLock()
	f := a.filters[bucket]
	a.mu.RUnlock()
	if f != nil {
		f.add(key)
	}
	return a.writes.RUnlock
}

// note adds a key that another process wrote (Service.Watch) to the
// bucket's filter, if it has one. Unlike adding, it waits for nothing:
// the write committed already.
func (a *absent) note(bucket, key string) {
	a.mu.RLock()
	f := a.filters[bucket]
	a.mu.RUnlock()
	if f != nil {
		f.add(key)
	}
}

// dropFilters forgets every filter, when buckets come or go.
func (s *Service) dropFilters() {
	s.absent.mu.Lock()
	s.absent.filters = nil
	s.absent.mu.Unlock()
}
