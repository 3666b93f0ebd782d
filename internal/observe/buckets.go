package observe

import (
	"cmp"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Status classes, the class label: 2xx, 3xx, 4xx, 5xx.
const classes = 4

var classNames = [classes]string{"2xx", "3xx", "4xx", "5xx"}

// classOf is the index of status's class; a status under 200 (none is
// final) counts as 2xx, one over 599 as 5xx.
func classOf(status int) int {
	return min(max(status/100-2, 0), classes-1)
}

// OtherBucket is the bucket label of the requests on buckets past the
// first N (see NewMetrics), on buckets that do not exist, and of refused
// requests on buckets not seen before. A bucket named "other" counts
// there too: a label of its own would repeat this one's label set, and
// Prometheus' registry refuses a whole scrape for that.
const OtherBucket = "other"

// slot holds the counters of one bucket label: plain atomics, read by
// Collect.
type slot struct {
	name    string
	reqs    []atomic.Uint64            // [op*classes+class]
	in, out [2]atomic.Uint64           // bytes by protocol (0: s3, 1: nix)
	narinfo [2]atomic.Uint64           // hits, misses
	usage   atomic.Pointer[meta.Usage] // the last refresh; nil: none (yet)
	born    uint64                     // bucketTable.refreshes when the slot was made
}

func newSlot(name string, ops int) *slot {
	return &slot{name: name, reqs: make([]atomic.Uint64, ops*classes)}
}

// bucketTable maps bucket names to slots: at most max named ones, in the
// order first seen, and "other" for the rest. Reads are a lookup in an
// immutable map (replaced whole when a bucket is added or removed),
// without a lock. A bucket that is gone loses its slot at a refresh (see
// setUsage), so that buckets created and deleted over the years neither
// keep their label sets nor leave the later buckets without one.
type bucketTable struct {
	ops    int
	max    int
	byName atomic.Pointer[map[string]*slot]
	full   atomic.Bool
	none   *slot // requests naming no bucket (ListBuckets, /-/health)
	other  *slot

	mu        sync.Mutex
	slots     []*slot // named, first seen first
	refreshes uint64  // setUsage calls completed
}

func newBucketTable(ops, max int) *bucketTable {
	t := &bucketTable{ops: ops, max: max, none: newSlot("", ops), other: newSlot(OtherBucket, ops)}
	m := map[string]*slot{}
	t.byName.Store(&m)
	t.full.Store(max <= 0)
	return t
}

// get returns the slot of bucket name. An unseen name takes a slot of its
// own only when claim is set (the bucket exists and the caller was not
// refused) and fewer than max are taken; otherwise it counts as other.
func (t *bucketTable) get(name string, claim bool) *slot {
	if name == "" {
		return t.none
	}
	if name == OtherBucket {
		return t.other
	}
	if s, ok := (*t.byName.Load())[name]; ok {
		return s
	}
	if !claim || t.full.Load() {
		return t.other
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	m := *t.byName.Load()
	if s, ok := m[name]; ok {
		return s
	}
	if len(m) >= t.max {
		t.full.Store(true)
		return t.other
	}
	s := newSlot(name, t.ops)
	s.born = t.refreshes
	next := maps.Clone(m)
	next[name] = s
	t.byName.Store(&next)
	t.slots = append(t.slots, s)
	return s
}

// all returns the named slots, then none and other.
func (t *bucketTable) all() []*slot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(append([]*slot(nil), t.slots...), t.none, t.other)
}

// setUsage records a refresh of every bucket's figures: each existing
// bucket takes a slot if one is free, the largest first (so that the
// first refresh after a restart labels the buckets that matter, not the
// first names in alphabetical order); the figures of the buckets past
// max are summed under other, and the buckets gone lose their slots,
// counters and all (Prometheus sees their series end).
func (t *bucketTable) setUsage(us []meta.Usage) {
	us = slices.Clone(us)
	slices.SortStableFunc(us, func(a, b meta.Usage) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(b.Objects, a.Objects))
	})
	var other meta.Usage
	seen := map[*slot]bool{}
	for _, u := range us {
		s := t.get(u.Bucket, true)
		if s == t.other {
			other.Objects += u.Objects
			other.Bytes += u.Bytes
			other.Paths += u.Paths
			other.Uploads += u.Uploads
			continue
		}
		u := u
		s.usage.Store(&u)
		seen[s] = true
	}
	for _, s := range t.all() {
		switch {
		case s == t.other:
			other.Bucket = OtherBucket
			if other != (meta.Usage{Bucket: OtherBucket}) {
				s.usage.Store(&other)
			} else {
				s.usage.Store(nil)
			}
		case !seen[s]:
			s.usage.Store(nil)
		}
	}
	t.dropUnseen(seen)
}

// dropUnseen removes the named slots a refresh did not see, of those made
// before the previous refresh completed: the refresh read the buckets
// after that (refreshes run one after another), so such a slot's bucket
// is gone. A slot made since may belong to a bucket created after the
// read; it waits for the next refresh. A request that looked its slot up
// just before it goes counts into the dropped slot, on a bucket that is
// gone.
func (t *bucketTable) dropUnseen(seen map[*slot]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := t.slots[:0:0]
	for _, s := range t.slots {
		if seen[s] || s.born >= t.refreshes {
			keep = append(keep, s)
		}
	}
	t.refreshes++
	if len(keep) == len(t.slots) {
		return
	}
	next := make(map[string]*slot, len(keep))
	for _, s := range keep {
		next[s.name] = s
	}
	t.slots = keep
	t.byName.Store(&next)
	t.full.Store(len(keep) >= t.max)
}
