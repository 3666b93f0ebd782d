package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Object changes across nodes (meta.ObjectWatcher).
//
// Every server keeps answers about small and missing objects in memory
// (objects.Service's memo and its filters of absent keys), which a write
// through another server would make stale. So every object write
// (PutObject, DeleteObject that deleted, CompleteUpload) to a bucket that
// another server registered (it keeps answers about the bucket; see
// watchers.go) sends, inside its transaction, a NOTIFY on
// nixbucket_objects naming the bucket and keys it changed, under an id of
// its own; PostgreSQL delivers it to every listener at commit, never
// before, and never for a transaction that rolled back.
//
// Each Store's listener (the generation's, see gen.go) appends the keys
// it hears from other Stores to a log in memory, numbered by a mark that
// only rises, and then acknowledges the id with a NOTIFY on the writer's
// own channel, nixbucket_objects_ack_NAME (the note names it; see
// objNote.Ack), so that only the writer hears it; the ids of several
// notes heard at once share one NOTIFY (listen.go). The writer, after its
// commit, waits until every live listener registered for the bucket
// acknowledged its id before the write returns, as announced changes do
// (gen.go): once a client was told that a write happened, the log of
// every node that keeps answers about the bucket holds its keys. A reader
// (objects.Service) compares the mark with the last it applied before
// using its memo (one atomic load while nothing changed: no round trip),
// and forgets the keys logged since. Keys of this Store's own writes are
// not logged: its own objects.Service forgets them as it writes.
//
// The log can have a gap: while the listener is away (connection lost,
// or silent past staleAfter) notifications are missed, and the log holds
// only so many keys. ObjectMark then says the memo may not be used, and
// ObjectChanges tells a reader behind a gap to forget everything. A
// listener that (re)connects is not trusted for joinGrace: writers list
// the live listeners at most listenersFor before they wait, so a write
// that committed after the listener began to listen but before its
// writer saw it in the list returns before joinGrace is over, while the
// memo is still unused.
const (
	objChannel    = "nixbucket_objects"
	objAckChannel = "nixbucket_objects_ack"
	// objPayloadMax bounds one notification's payload (PostgreSQL's limit
	// is 8000 bytes); more keys go in several.
	objPayloadMax = 7000
	// objLogMax is how many keys the log keeps; a reader further behind
	// forgets everything.
	objLogMax = 1 << 16
)

var (
	joinGrace      = 500 * time.Millisecond
	listenersFor   = 100 * time.Millisecond
	objWaitRecheck = 100 * time.Millisecond
)

// objNote is one notification's payload.
type objNote struct {
	ID     string   `json:"i"`
	From   string   `json:"f"`
	Bucket string   `json:"b"`
	Keys   []string `json:"k"`
	// Ack is the channel the writer hears acknowledgements on: its own
	// (objWatch.ackChannel). A NOTIFY reaches every listener of its
	// channel, so acknowledgements on the one objAckChannel reached
	// every node, each write's from every other node: with n nodes, n²
	// deliveries per write, each a wake-up of a PostgreSQL backend and of
	// a node, which made a third of a 1 MiB PUT's CPU with four nodes
	// (bench/scale.sh). On the writer's own channel they are n-1. A note
	// without it (a writer of an earlier version) is acknowledged on
	// objAckChannel, which every writer still hears.
	Ack string `json:"a,omitempty"`
	// Many says the writer reads an acknowledgement naming several ids,
	// separated by spaces (ackedIDs), as listeners send them in batches
	// (listen.go). A note without it (a writer of an earlier version) is
	// acknowledged alone.
	Many bool `json:"m,omitempty"`
}

// ackChannelOf is the channel to acknowledge n on.
func ackChannelOf(n objNote) string {
	if strings.HasPrefix(n.Ack, objAckChannel+"_") && len(n.Ack) <= 63 {
		return n.Ack
	}
	return objAckChannel
}

// objChange is an entry of the log.
type objChange struct {
	mark        uint64
	bucket, key string
}

// objWatch is a Store's side of the object changes: the log, and the
// writers waiting for acknowledgements.
type objWatch struct {
	self string // this Store's name in payloads (its ping channel's)
	ack  string // the channel its writes are acknowledged on (ackChannel)
	next atomic.Uint64

	mu       sync.Mutex
	log      []objChange
	gap      uint64 // a reader whose mark is below it missed changes
	mark     atomic.Uint64
	liveAt   atomic.Int64 // when the listener (re)connected, since the announcer's base; 0 while away
	ownPID   atomic.Uint32
	waiters  map[string]*objWaiter
	listMu   sync.Mutex
	list     []uint32 // other listeners' backend PIDs
	listedAt time.Time

	watching atomic.Pointer[watchSet]    // this listener's registrations (watchers.go)
	view     atomic.Pointer[watcherView] // every node's, as a writer last read them
	viewMu   sync.Mutex                  // one reading them at a time
}

// objWaiter is a write waiting for the acknowledgements of its id.
type objWaiter struct {
	payload string // the notification, for confirmAlone
	acked   map[uint32]bool
	changed chan struct{} // closed, and replaced, at each acknowledgement
}

func newObjWatch(self string) *objWatch {
	return &objWatch{self: self, ack: objAckChannel + "_" + self, waiters: make(map[string]*objWaiter)}
}

// ackChannel is the channel this Store's writes are acknowledged on.
func (w *objWatch) ackChannel() string { return w.ack }

// connected is called by the listener once it LISTENs again: what it
// missed meanwhile is unknown, so readers behind this point forget all.
func (w *objWatch) connected(pid uint32, at int64) {
	w.mu.Lock()
	m := w.mark.Load() + 1
	w.gap = m
	w.log = w.log[:0]
	w.mark.Store(m)
	w.mu.Unlock()
	w.watching.Store(&watchSet{pid: pid})
	w.ownPID.Store(pid)
	w.liveAt.Store(at)
}

// heard logs the keys of another Store's change.
func (w *objWatch) heard(n objNote) {
	w.mu.Lock()
	m := w.mark.Load()
	for _, k := range n.Keys {
		m++
		w.log = append(w.log, objChange{mark: m, bucket: n.Bucket, key: k})
	}
	if len(w.log) > 2*objLogMax {
		w.log = slices.Delete(w.log, 0, len(w.log)-objLogMax)
	}
	w.mark.Store(m)
	w.mu.Unlock()
}

// changes calls fn for each key logged after since, and returns the
// mark reached; all reports a gap after since (fn was not called).
func (w *objWatch) changes(since uint64, fn func(bucket, key string)) (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.mark.Load()
	if since < w.gap || (len(w.log) > 0 && w.log[0].mark > since+1) {
		return m, true
	}
	i, _ := slices.BinarySearchFunc(w.log, since+1, func(c objChange, t uint64) int {
		switch {
		case c.mark < t:
			return -1
		case c.mark > t:
			return 1
		}
		return 0
	})
	for _, c := range w.log[i:] {
		fn(c.bucket, c.key)
	}
	return m, false
}

// notes cuts a change of keys into payloads under objPayloadMax, each
// with a fresh id, and registers a waiter for each id.
func (w *objWatch) notes(bucket string, keys []string) ([]string, []string) {
	var ids, payloads []string
	flush := func(ks []string) {
		id := w.self + "." + strconv.FormatUint(w.next.Add(1), 36)
		b, _ := json.Marshal(objNote{ID: id, From: w.self, Bucket: bucket, Keys: ks, Ack: w.ackChannel(), Many: true})
		ids = append(ids, id)
		payloads = append(payloads, string(b))
	}
	start, size := 0, 0
	for i, k := range keys {
		// JSON may escape a byte as six; the bucket and the rest are small.
		est := 6*len(k) + 3
		if i > start && size+est > objPayloadMax-200 {
			flush(keys[start:i])
			start, size = i, 0
		}
		size += est
	}
	flush(keys[start:])
	w.mu.Lock()
	for i, id := range ids {
		w.waiters[id] = &objWaiter{payload: payloads[i], acked: make(map[uint32]bool), changed: make(chan struct{})}
	}
	w.mu.Unlock()
	return ids, payloads
}

// acked records a listener's acknowledgement of the ids payload names.
func (w *objWatch) acked(payload string, pid uint32) {
	w.mu.Lock()
	ackedIDs(payload, func(id string) {
		if wt := w.waiters[id]; wt != nil && !wt.acked[pid] {
			wt.acked[pid] = true
			close(wt.changed)
			wt.changed = make(chan struct{})
		}
	})
	w.mu.Unlock()
}

// drop forgets the waiters of ids.
func (w *objWatch) drop(ids []string) {
	w.mu.Lock()
	for _, id := range ids {
		delete(w.waiters, id)
	}
	w.mu.Unlock()
}

// execer is what sends notes: a transaction, or the pool after a commit.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// notifyObjects sends the change of keys in bucket through q, in one
// statement, and returns the ids to wait for once it is committed (or to
// drop if it is not).
func (a *announcer) notifyObjects(ctx context.Context, q execer, bucket string, keys []string) ([]string, error) {
	ids, payloads := a.objs.notes(bucket, keys)
	var err error
	if len(payloads) == 1 {
		_, err = q.Exec(ctx, `SELECT pg_notify($1, $2)`, objChannel, payloads[0])
	} else {
		_, err = q.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS t(p)`, objChannel, payloads)
	}
	if err != nil {
		a.objs.drop(ids)
		return nil, err
	}
	return ids, nil
}

// waitObjects waits until every live listener of watchers acknowledged
// ids (see the top of this file), then forgets them.
func (a *announcer) waitObjects(ctx context.Context, ids []string, watchers []uint32) {
	w := a.objs
	defer w.drop(ids)
	if !a.current() {
		// The acknowledgements would not reach our listener: ask for them
		// on a connection of our own.
		var payloads []string
		w.mu.Lock()
		for _, id := range ids {
			if wt := w.waiters[id]; wt != nil {
				payloads = append(payloads, wt.payload)
			}
		}
		w.mu.Unlock()
		a.confirmAlone(ctx, objChannel, []string{w.ackChannel(), objAckChannel}, payloads, func(acks map[string]bool) bool {
			for _, id := range ids {
				if !acks[id] {
					return false
				}
			}
			return true
		})
		return
	}
	deadline := time.Now().Add(ackTimeout)
	for {
		live, err := a.otherListeners(ctx, false)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				slog.Warn("metadata: list change listeners", "err", err)
			}
			return
		}
		var pids []uint32
		for _, p := range watchers {
			if slices.Contains(live, p) {
				pids = append(pids, p)
			}
		}
		var pending []uint32
		var changed []chan struct{}
		w.mu.Lock()
		for _, id := range ids {
			wt := w.waiters[id]
			for _, pid := range pids {
				if !wt.acked[pid] {
					pending = append(pending, pid)
					changed = append(changed, wt.changed)
					break
				}
			}
		}
		w.mu.Unlock()
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slog.Warn("metadata: change listeners did not acknowledge an object change", "backends", pending)
			return
		}
		select {
		case <-changed[0]:
		case <-time.After(objWaitRecheck):
			// A listener that died drops out of the list.
			if _, err := a.otherListeners(ctx, true); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// otherListeners returns the backend PIDs of the database's listeners but
// this Store's own, as listed at most listenersFor ago (or now, if
// fresh).
func (a *announcer) otherListeners(ctx context.Context, fresh bool) ([]uint32, error) {
	w := a.objs
	w.listMu.Lock()
	defer w.listMu.Unlock()
	if !fresh && time.Since(w.listedAt) < listenersFor {
		return w.list, nil
	}
	pids, err := a.listeners(ctx)
	if err != nil {
		return nil, err
	}
	own := w.ownPID.Load()
	w.list = slices.DeleteFunc(pids, func(p uint32) bool { return p == own })
	w.listedAt = time.Now()
	return w.list, nil
}

// objectMark is Store.ObjectMark.
func (a *announcer) objectMark() (uint64, bool) {
	w := a.objs
	at := w.liveAt.Load()
	if at == 0 || !a.current() || time.Since(a.base)-time.Duration(at) < joinGrace {
		return w.mark.Load(), false
	}
	return w.mark.Load(), true
}

// heardObjects takes up a notification on objChannel: logs its keys, and
// adds its acknowledgement to acks, unless it is this Store's own.
func (a *announcer) heardObjects(payload string, acks *ackBatch) {
	// The listener hears this Store's own notes too, one per write: their
	// id (the payload's first field, see notes) names this Store, which
	// spares decoding them.
	if strings.HasPrefix(payload, `{"i":"`+a.objs.self+".") {
		return
	}
	var n objNote
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		slog.Warn("metadata: unreadable object change notification", "err", err)
		return
	}
	if n.From == a.objs.self {
		return
	}
	a.objs.heard(n)
	ch := ackChannelOf(n)
	acks.object(ch, n.ID, n.Many && ch != objAckChannel)
}

// ObjectMark returns the mark of the object changes heard from other
// Stores, and whether answers kept in memory about bucket (or, for "", at
// all) may be used now (meta.ObjectWatcher; see watchers.go).
func (s *Store) ObjectMark(bucket string) (uint64, bool) {
	m, ok := s.gen.objectMark()
	if !ok || bucket == "" {
		return m, ok
	}
	return m, s.watching(bucket)
}

// ObjectChanges calls fn for each object key another Store changed after
// mark since, and returns the mark reached; all reports that changes were
// missed, and every answer kept must go (meta.ObjectWatcher).
func (s *Store) ObjectChanges(ctx context.Context, since uint64, fn func(bucket, key string)) (uint64, bool, error) {
	m, all := s.gen.objs.changes(since, fn)
	return m, all, nil
}

// writeObjects is write for a change of objects: fn reports each key it
// changed through changed, and the change is announced to the Stores
// registered for the bucket (see the top of this file and watchers.go)
// before the call returns.
func (s *Store) writeObjects(ctx context.Context, bucket string, fn func(tx pgx.Tx, changed func(key string)) error) error {
	// Errors of watchersOf leave the lists empty: the look after the
	// commit asks again, and fails the write if it still cannot tell.
	before, _ := s.watchersOf(ctx, bucket)
	var keys, ids []string
	err := s.write(ctx, func(tx pgx.Tx) error {
		s.gen.objs.drop(ids) // of an attempt that did not commit
		keys, ids = keys[:0], nil
		if err := fn(tx, func(k string) { keys = append(keys, k) }); err != nil {
			return err
		}
		if len(keys) == 0 || len(before) == 0 {
			return nil
		}
		var err error
		ids, err = s.gen.notifyObjects(ctx, tx, bucket, keys)
		return err
	})
	if err != nil {
		s.gen.objs.drop(ids)
		return err
	}
	return s.tellObjects(ctx, bucket, keys, ids)
}

// tellObjects is called after a change of keys in bucket committed, with
// the ids of the notes its transaction sent (none if no node was
// registered for the bucket at the first look): it waits until the nodes
// registered now acknowledged them, sending the notes first if the
// transaction did not (see watchers.go).
func (s *Store) tellObjects(ctx context.Context, bucket string, keys, ids []string) error {
	if len(keys) == 0 {
		return nil
	}
	after, err := s.watchersOf(ctx, bucket)
	if err != nil {
		s.gen.objs.drop(ids)
		return fmt.Errorf("%w: the change committed, but which nodes to tell could not be read: %w", meta.ErrOutcomeUnknown, err)
	}
	if len(after) == 0 {
		s.gen.objs.drop(ids)
		return nil
	}
	if len(ids) == 0 {
		// A node registered the bucket since the first look: tell it now.
		if ids, err = s.gen.notifyObjects(ctx, s.pool, bucket, keys); err != nil {
			return fmt.Errorf("%w: the change committed, but the nodes that keep answers about it could not be told: %w", meta.ErrOutcomeUnknown, err)
		}
	}
	s.gen.waitObjects(ctx, ids, after)
	return nil
}
