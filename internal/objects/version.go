package objects

import (
	"context"
	"sync"
	"sync/atomic"
)

// Version is where a bucket's objects stand, as this Service can vouch for:
// equal Versions read before and after some work mean no object of the
// bucket changed in between, on this server or any other on the store.
// It lets a cache of something derived from a bucket's objects (the
// console's graph of a bucket's narinfos) keep it until the bucket
// changes, without asking the store.
//
// It moves exactly where the memo forgets (after a write committed; when
// another process's change is learnt, see inMemory; on the store's
// generation, which the admin commands beside a server move after their
// object writes), so a cache that reads the Version before it loads,
// keeps what it loaded under that Version and reloads when the Version
// differs never keeps data older than a write that returned before its
// next read, as the memo does not.
//
// A Version names its bucket's counter as well as its count: counters of
// buckets that are gone are dropped (ForgetGone, DeleteBucket), and one
// made afresh for the name counts from zero again, which a count alone
// would confuse with an older Version's.
type Version struct {
	gen, all, bucket uint64
	counter          *atomic.Uint64
}

// versions counts the changes of each bucket, and of all at once.
type versions struct {
	all     atomic.Uint64
	buckets sync.Map // bucket name → *atomic.Uint64
}

func (v *versions) counter(bucket string) *atomic.Uint64 {
	if c, ok := v.buckets.Load(bucket); ok {
		return c.(*atomic.Uint64)
	}
	c, _ := v.buckets.LoadOrStore(bucket, new(atomic.Uint64))
	return c.(*atomic.Uint64)
}

// BucketVersion returns the bucket's Version, after catching up with the
// changes of other processes. ok is false when the Service cannot vouch
// for the bucket (NoMemo, or the store's change feed is away): a cache
// must then load afresh.
func (s *Service) BucketVersion(ctx context.Context, bucket string) (v Version, ok bool) {
	v.gen = s.generation(ctx)
	if !s.inMemory(ctx, bucket) {
		return Version{}, false
	}
	v.all = s.versions.all.Load()
	v.counter = s.versions.counter(bucket)
	v.bucket = v.counter.Load()
	return v, true
}

// forget is the one place a committed (or failed) write to a key is
// noted: the memo forgets the key, and the bucket's Version moves.
func (s *Service) forget(bucket, key string) {
	s.memo.forget(bucket, key)
	s.versions.counter(bucket).Add(1)
}

// forgetAll forgets everything: buckets came or went, or the changes of
// other processes could not be named one by one.
func (s *Service) forgetAll() {
	s.memo.forgetAll()
	s.versions.all.Add(1)
}

// ForgetGone drops what the Service keeps in memory per bucket (the
// filter of absent keys, the Version counter) for every bucket that
// exists reports gone. DeleteBucket drops a bucket's own; this catches
// the buckets that other processes deleted (`nixbucket bucket delete`
// beside an SQLite server), and the names writes to missing buckets
// left. The server calls it with a list of the buckets read at any time
// before: dropping the state of a bucket created since costs a rebuild,
// never a wrong answer (a filter is registered anew on the next miss, a
// new counter gives Versions unequal to any before).
func (s *Service) ForgetGone(exists func(bucket string) bool) {
	s.absent.mu.Lock()
	for b := range s.absent.filters {
		if !exists(b) {
			delete(s.absent.filters, b)
		}
	}
	s.absent.mu.Unlock()
	s.versions.buckets.Range(func(b, _ any) bool {
		if !exists(b.(string)) {
			s.versions.buckets.Delete(b)
		}
		return true
	})
}
