package objects

import (
	"sync"
	"sync/atomic"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// memo keeps recent answers of the metadata store for small objects and for
// missing keys, so that serving a narinfo — or answering that there is
// none, which is most of what substituters ask — costs no database query.
//
// Only this Service writes objects, so it knows when an entry goes stale:
// every write to a key drops the key's entry and bumps epoch. An answer
// read from the store is remembered only if no write happened while it was
// being read (epoch unchanged), so a slow reader can never store an answer
// older than a write that finished before it. With several servers on one
// store (a future PostgreSQL deployment) the memo must be turned off.
type memo struct {
	epoch   atomic.Uint64
	mu      sync.RWMutex
	entries map[memoKey]memoEntry
	bytes   int
}

type memoKey struct{ bucket, key string }

type memoEntry struct {
	obj     meta.Object
	missing bool
}

// Bounds of the memo: entries past maxMemoBytes (counting inline data and
// keys) empty it, to be refilled by use.
const (
	maxMemoBytes  = 32 << 20
	memoEntryCost = 256 // bookkeeping per entry, roughly
)

func (m *memo) get(bucket, key string) (memoEntry, bool) {
	m.mu.RLock()
	e, ok := m.entries[memoKey{bucket, key}]
	m.mu.RUnlock()
	return e, ok
}

// put remembers an answer read while the epoch was epoch.
func (m *memo) put(epoch uint64, bucket, key string, e memoEntry) {
	if !e.missing && !memoable(e.obj) {
		return
	}
	cost := memoEntryCost + len(bucket) + len(key)
	if !e.missing {
		cost += int(e.obj.Size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch.Load() != epoch {
		return
	}
	if m.entries == nil || m.bytes+cost > maxMemoBytes {
		m.entries = make(map[memoKey]memoEntry)
		m.bytes = 0
	}
	m.entries[memoKey{bucket, key}] = e
	m.bytes += cost
}

// forget drops a key's entry before a write to it commits, and moves the
// epoch so no answer read meanwhile is remembered.
func (m *memo) forget(bucket, key string) {
	m.mu.Lock()
	m.epoch.Add(1)
	delete(m.entries, memoKey{bucket, key})
	m.mu.Unlock()
}

// forgetAll drops everything: buckets come and go rarely.
func (m *memo) forgetAll() {
	m.mu.Lock()
	m.epoch.Add(1)
	m.entries = nil
	m.bytes = 0
	m.mu.Unlock()
}

// memoable reports whether an object is small enough to remember: one
// inline segment.
func memoable(o meta.Object) bool {
	return len(o.Segments) == 1 && o.Segments[0].Inline()
}
