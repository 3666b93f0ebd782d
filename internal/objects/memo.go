package objects

import (
	"context"
	"sync"

	"github.com/nixbucket/nixbucket/internal/gencache"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// memo keeps recent answers of the metadata store for small objects and for
// missing keys, so that serving a narinfo — or answering that there is
// none, which is most of what substituters ask — costs no database query.
//
// This Service makes nearly every object write, so it knows when an entry
// goes stale: every write to a key forgets the key's entry once it
// committed, which also refuses the answers of reads begun before (see
// gencache.Forget), so a slow reader can never store an answer older than
// a write that finished before it. With several servers on one store (a
// PostgreSQL deployment) the store names the keys the others changed
// (Service.Watch, see watch.go), and those are forgotten before the memo
// answers; a store that cannot (or Service.NoMemo) turns it off. Entries
// are also kept under the store's generation (when it has one), so that
// the rare object writes of an admin command beside an SQLite server,
// which announces them afterwards (`nixbucket bucket resign` rewriting
// narinfos while the server runs), empty the memo.
type memo struct {
	once sync.Once
	c    gencache.Cache[memoKey, memoEntry]
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

func (m *memo) cache() *gencache.Cache[memoKey, memoEntry] {
	m.once.Do(func() {
		m.c.MaxCost = maxMemoBytes
		m.c.Cost = func(k memoKey, e memoEntry) int {
			cost := memoEntryCost + len(k.bucket) + len(k.key)
			if !e.missing {
				cost += int(e.obj.Size)
			}
			return cost
		}
	})
	return &m.c
}

// get returns a key's entry at generation gen (see Service.generation),
// and the ticket to put what a read of the store finds.
func (m *memo) get(gen uint64, bucket, key string) (memoEntry, gencache.Ticket, bool) {
	return m.cache().Get(gen, memoKey{bucket, key})
}

// put remembers an answer read after the get that gave t.
func (m *memo) put(t gencache.Ticket, bucket, key string, e memoEntry) {
	if !e.missing && !memoable(e.obj) {
		return
	}
	m.cache().Put(t, memoKey{bucket, key}, e)
}

// forget drops a key's entry once a write to it committed (or failed), so
// that no answer read meanwhile is remembered.
func (m *memo) forget(bucket, key string) { m.cache().Forget(memoKey{bucket, key}) }

// forgetAll drops everything: buckets come and go rarely.
func (m *memo) forgetAll() { m.cache().Clear() }

// memoable reports whether an object is small enough to remember: one
// inline segment.
func memoable(o meta.Object) bool {
	return len(o.Segments) == 1 && o.Segments[0].Inline()
}

// generation is the store's change announcement, read before a load of
// the memo (see gencache): one atomic load on SQLite. A store without one,
// or a failed read, gives 0, which at worst finds nothing and stores
// nothing.
func (s *Service) generation(ctx context.Context) uint64 {
	a, ok := s.Meta.(meta.Announcer)
	if !ok {
		return 0
	}
	g, err := a.Generation(ctx)
	if err != nil {
		return 0
	}
	return g
}
