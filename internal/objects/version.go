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
type Version struct{ gen, all, bucket uint64 }

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
	if !s.inMemory(ctx) {
		return Version{}, false
	}
	v.all = s.versions.all.Load()
	v.bucket = s.versions.counter(bucket).Load()
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
