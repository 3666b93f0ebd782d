package postgres

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Which nodes a write waits for.
//
// A write needs the acknowledgement of a node only if that node may keep
// answers about the write's bucket in memory (objwatch.go): a node that
// keeps none has nothing to forget. Every acknowledgement costs PostgreSQL
// a wake-up of every listener and the node a round trip, and on two cores
// three other nodes cost a quarter of a 1 MiB PUT's speed, so a node
// registers each bucket before it keeps answers about it, and a write
// sends its note, and waits, only for the bucket's registered nodes
// (watchers).
//
// A node registers a bucket (watch) in the table object_watchers, under
// its listener's backend PID, as an announced change: the transaction
// advances the generation, and the registration returns once every live
// listener acknowledged it. Until then ObjectMark(bucket) is false, and
// the node answers every read of the bucket from the database. A writer
// reads the watchers from a copy in memory, loaded again whenever the
// generation moved (watchersOf), and asks twice: before its transaction,
// to send the note inside it as before, and after its commit, to wait.
// That second look is what makes it safe: a node that became ready
// before the commit had every listener, the writer's included, raise its
// generation past the registration first, so the writer's copy names it;
// if the first look did not, the note goes out then, in a transaction of
// its own, and the writer waits for it as for any other. A node whose
// registration became ready after the commit reads the committed object.
//
// A listener marks itself as one that registers (a row for the bucket
// "", written as it connects): a live listener without that row is of an
// earlier version, which keeps answers about every bucket and knows
// nothing of registrations, so every write waits for it, as all did
// before. A writer that sees a live listener its copy has no row for
// reads the rows again, at most every listenersFor, so a listener that
// just connected is waited for until then.
//
// Registrations live as long as the listener connection they name: a
// listener that reconnects has a new PID, forgets everything it kept
// (connected), and registers afresh as reads come; the rows of listeners
// that are gone are deleted by the next registration or connection. A
// bucket that does not exist is not registered (nothing can be cached
// about it) until the generation moves, which a bucket's creation does.

// qDropGoneWatchers deletes the rows of listeners that are gone.
const qDropGoneWatchers = `DELETE FROM object_watchers WHERE pid NOT IN
	(SELECT pid FROM pg_stat_activity WHERE application_name = $1)`

// maxWatchEntries bounds the buckets a node tracks registrations of; past
// it, reads of further buckets are answered from the database.
const maxWatchEntries = 1 << 16

// watchSet is one listener connection's registrations, by bucket.
type watchSet struct {
	pid     uint32
	m       sync.Map // bucket → *watchState
	entries atomic.Int64
}

// watchState is a bucket's registration.
type watchState struct {
	ready  atomic.Bool
	absent atomic.Uint64 // the generation at which the bucket was missing; 0 while registering
}

// watcherView is the registrations of every node, as read at a
// generation.
type watcherView struct {
	gen uint64
	at  time.Time // when read
	by  map[string][]uint32
}

// watching reports whether this Store's registration of bucket is ready
// (the other nodes wait for it), and starts it if it is not begun.
func (s *Store) watching(bucket string) bool {
	ws := s.gen.objs.watching.Load()
	if ws == nil {
		return false
	}
	v, ok := ws.m.Load(bucket)
	if ok {
		st := v.(*watchState)
		if st.ready.Load() {
			return true
		}
		g := st.absent.Load()
		if g == 0 || g == s.gen.local.Load() {
			return false // registering, or missing at this generation
		}
		if st.absent.CompareAndSwap(g, 0) {
			go s.watch(ws, bucket, st)
		}
		return false
	}
	if ws.entries.Load() >= maxWatchEntries {
		return false
	}
	st := &watchState{}
	if _, loaded := ws.m.LoadOrStore(bucket, st); !loaded {
		ws.entries.Add(1)
		go s.watch(ws, bucket, st)
	}
	return false
}

// watchTimeout bounds a registration; one that fails is tried again at
// the next read of the bucket after watchRetry.
var (
	watchTimeout = 30 * time.Second
	watchRetry   = time.Second
)

// watch registers bucket for the listener connection of ws (see the top
// of this file).
func (s *Store) watch(ws *watchSet, bucket string, st *watchState) {
	ctx, cancel := context.WithTimeout(s.gen.ctx, watchTimeout)
	defer cancel()
	// A bucket created after this read moves the generation past it.
	before := s.gen.local.Load()
	// A missing bucket rolls back: it must not move the generation,
	// which would make every node drop what it keeps in memory.
	errMissing := errors.New("no such bucket")
	err := s.writeAnnounced(ctx, func(tx pgx.Tx) error {
		ok, err := exists(ctx, tx, `SELECT EXISTS (SELECT 1 FROM buckets WHERE name = $1)`, bucket)
		if err == nil && !ok {
			err = errMissing
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, qDropGoneWatchers, listenApp); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO object_watchers (bucket, pid) VALUES ($1, $2) ON CONFLICT DO NOTHING`, bucket, int32(ws.pid))
		return err
	})
	missing := errors.Is(err, errMissing)
	if missing {
		err = nil
	}
	switch {
	case err != nil:
		if s.gen.ctx.Err() == nil {
			slog.Warn("metadata: register a bucket's watcher; its reads go to the database meanwhile", "bucket", bucket, "err", err)
		}
		// Tried again by a read after watchRetry, unless the listener
		// reconnected meanwhile (a new set).
		time.AfterFunc(watchRetry, func() { ws.m.CompareAndDelete(bucket, st); ws.entries.Add(-1) })
	case missing:
		st.absent.Store(max(before, 1))
	default:
		st.ready.Store(true)
	}
}

// watchersOf returns the listener PIDs but this Store's own registered
// for bucket, as of the current generation.
func (s *Store) watchersOf(ctx context.Context, bucket string) ([]uint32, error) {
	w := s.gen.objs
	g, err := s.gen.generation(ctx)
	if err != nil {
		return nil, err
	}
	live, err := s.gen.otherListeners(ctx, false)
	if err != nil {
		return nil, err
	}
	stale := func(v *watcherView) bool {
		return v == nil || v.gen < g || (time.Since(v.at) >= listenersFor && slices.ContainsFunc(live, func(p uint32) bool {
			return !slices.Contains(v.by[""], p)
		}))
	}
	v := w.view.Load()
	if stale(v) {
		w.viewMu.Lock()
		if v = w.view.Load(); stale(v) {
			v, err = s.loadWatchers(ctx, g)
			if err == nil {
				w.view.Store(v)
			}
		}
		w.viewMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	// A live listener without a row for "" is of an earlier version (or
	// connected since the rows were read): it keeps answers about every
	// bucket.
	own := w.ownPID.Load()
	var pids []uint32
	for _, p := range v.by[bucket] {
		if p != own {
			pids = append(pids, p)
		}
	}
	for _, p := range live {
		if !slices.Contains(v.by[""], p) && !slices.Contains(pids, p) {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

// loadWatchers reads every registration, after the generation reached g.
func (s *Store) loadWatchers(ctx context.Context, g uint64) (*watcherView, error) {
	rows, err := s.pool.Query(ctx, `SELECT bucket, pid FROM object_watchers`)
	if err != nil {
		return nil, err
	}
	v := &watcherView{gen: g, at: time.Now(), by: map[string][]uint32{}}
	var bucket string
	var pid int32
	_, err = pgx.ForEachRow(rows, []any{&bucket, &pid}, func() error {
		v.by[bucket] = append(v.by[bucket], uint32(pid))
		return nil
	})
	return v, err
}
