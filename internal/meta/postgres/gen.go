package postgres

import (
	"context"
	"crypto/rand"
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
	"github.com/jackc/pgx/v5/pgxpool"
)

// The generation across nodes.
//
// The counter lives in the table generation. An announced change advances
// it in its own transaction (advance), and a trigger sends NOTIFY on the
// channel nixbucket_generation with the new value, which PostgreSQL
// delivers to every listener when the transaction commits, never before.
//
// Each Store keeps one listener connection (application_name
// nixbucket-listen) that LISTENs on the channel, and keeps the highest
// value heard in memory (local). While the listener is connected,
// Generation returns local: no round trip, which keeps the cached read
// path (access keys, policies, nix-cache-info) as fast as on SQLite.
//
// Delivery of a notification is asynchronous, so "a change made on any
// node takes effect on every node by the next request" needs one more
// step: each listener, having raised local to a value, acknowledges it
// with a NOTIFY on nixbucket_generation_ack, and the writer, after its
// commit, waits until every live listener of the database (the backends
// named nixbucket-listen in pg_stat_activity) acknowledged its value,
// before the writing call returns. A listener that disconnected meanwhile
// drops out of pg_stat_activity and is not waited for; one that does not
// answer within ackTimeout is logged and given up on. Changes announced
// are rare (users, keys, policies, settings), so the wait, about one round
// trip, costs nothing on the paths that matter.
// Between the commit and that return, nodes may disagree for a moment
// (one has heard, another not yet): the change has not returned, so no
// client was told it happened.
//
// A listener can also fall silent without its connection failing (a
// network partition without a reset, a stuck process), and a writer gives
// up waiting for it after ackTimeout. So each Store also sends itself a
// NOTIFY on a channel of its own every pingEvery, through the pool, and
// trusts local only while its listener heard something (a change or its
// own ping) within staleAfter, well under ackTimeout: by the time a writer
// stops waiting for a silent listener, that listener's Store has stopped
// trusting what it holds.
//
// When the listener connection is lost, the Store does not know what it
// missed: until it is back, Generation reads the table on every call
// (slower, but never stale). Its own writes meanwhile still wait for the
// other listeners' acknowledgements, asked for on a connection of their
// own (confirmAlone): a change returns once every node heard it, whatever
// the writer's listener is doing. On reconnecting it LISTENs first, then reads
// the table and raises local to it, so that no change falls between the
// two, and only then trusts local again. It acknowledges the value read,
// so writers waiting on the new connection need not time out. Caches
// tagged with a value older than the table's reload; raising local to an
// arbitrary value instead would do the same, but break the comparison of
// values read through different instances that the contract promises.
//
// The values are the table's, so values read through different instances
// compare; local only ever rises (raise), so a reader never sees it go
// back.

const (
	genChannel = "nixbucket_generation"
	ackChannel = "nixbucket_generation_ack"
	listenApp  = "nixbucket-listen"
	confirmApp = "nixbucket-confirm" // confirmAlone's connections: no listener
	// maxConfirms bounds the connections of confirmAlone at once.
	maxConfirms = 4
)

// Variables for tests. staleAfter plus pingEvery must stay well under
// ackTimeout (see above).
var (
	ackTimeout    = 5 * time.Second
	staleAfter    = 2 * time.Second
	pingEvery     = 500 * time.Millisecond
	reconnectWait = time.Second
	// heardHook, when set, runs as a listener takes up a notification of
	// a change, before it raises its generation or logs the keys.
	heardHook atomic.Pointer[func(a *announcer)]
)

// announcer is a Store's side of the generation.
type announcer struct {
	pool *pgxpool.Pool
	cfg  *pgx.ConnConfig // the listener's

	local atomic.Uint64 // the highest generation known
	live  atomic.Bool   // the listener is connected and local is current

	lost       atomic.Uint64 // times the listener's connection was lost
	unanswered atomic.Bool   // the pinger's last ping failed or timed out

	ping    string       // this announcer's own channel
	base    time.Time    // what heardAt counts from, on the monotonic clock
	heardAt atomic.Int64 // when the listener last heard anything, since base

	objs *objWatch // object changes (objwatch.go)

	confirms chan struct{} // confirmAlone's turns, maxConfirms

	mu      sync.Mutex
	acks    map[uint32]uint64 // by listener backend PID, the highest value acknowledged
	changed chan struct{}     // closed, and replaced, when acks changes

	ctx    context.Context // ends at stop
	cancel context.CancelFunc
	done   chan struct{} // closed when the listener and the pinger have stopped
}

func newAnnouncer(pool *pgxpool.Pool, cfg *pgx.ConnConfig) *announcer {
	lc := cfg.Copy()
	lc.RuntimeParams["application_name"] = listenApp
	ctx, cancel := context.WithCancel(uncounted(context.Background()))
	// Lower case: LISTEN folds the unquoted name, pg_notify does not.
	self := strings.ToLower(rand.Text())
	return &announcer{pool: pool, cfg: lc, acks: make(map[uint32]uint64), changed: make(chan struct{}),
		ping: "nixbucket_ping_" + self, base: time.Now(), objs: newObjWatch(self), confirms: make(chan struct{}, maxConfirms),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// start connects the listener, so that a Store that opened is live, and
// keeps it connected until stop.
func (a *announcer) start(ctx context.Context) error {
	conn, err := a.connect(ctx)
	if err != nil {
		a.cancel()
		close(a.done)
		return fmt.Errorf("listen for changes: %w", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.loop(conn) })
	wg.Go(a.pinger)
	go func() {
		wg.Wait()
		close(a.done)
	}()
	return nil
}

// pinger sends the announcer's own channel a notification every pingEvery,
// so that a listener that hears nothing else still shows it hears. A ping
// that fails, or gets no answer within staleAfter, shows as silence, and
// is logged once until a ping goes through again: a database that is down
// or paused (SIGSTOP, a partition) would otherwise only show as requests
// that wait or fail, each on its own.
func (a *announcer) pinger() {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	var since time.Time // when pings began to fail; zero while they pass
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(a.ctx, staleAfter)
		_, err := a.pool.Exec(ctx, `SELECT pg_notify($1, '')`, a.ping)
		cancel()
		if a.ctx.Err() != nil {
			return
		}
		a.unanswered.Store(err != nil)
		switch {
		case err != nil && since.IsZero():
			since = time.Now()
			slog.Warn("metadata: PostgreSQL does not answer; requests that need it wait or fail until it does", "within", staleAfter, "err", err)
		case err == nil && !since.IsZero():
			slog.Warn("metadata: PostgreSQL answers again", "after", time.Since(since).Round(time.Millisecond))
			since = time.Time{}
		}
	}
}

// ListenerState reports whether the change listener is connected and
// current (Generation needs no round trip), whether PostgreSQL answered
// the last ping, and how many times the listener's connection was lost:
// what /-/metrics shows of the metadata store.
func (s *Store) ListenerState() (listening, answering bool, lost uint64) {
	a := s.gen
	return a.current(), !a.unanswered.Load(), a.lost.Load()
}

// heard records that the listener heard from the server.
func (a *announcer) heard() {
	a.heardAt.Store(int64(time.Since(a.base)))
}

// current reports whether local can be trusted: the listener is connected
// and heard from the server within staleAfter.
func (a *announcer) current() bool {
	return a.live.Load() && time.Since(a.base)-time.Duration(a.heardAt.Load()) < staleAfter
}

func (a *announcer) stop() {
	a.cancel()
	<-a.done
}

// raise makes local at least g and returns it.
func (a *announcer) raise(g uint64) uint64 {
	for {
		cur := a.local.Load()
		if cur >= g {
			return cur
		}
		if a.local.CompareAndSwap(cur, g) {
			return g
		}
	}
}

// generation is Store.Generation.
func (a *announcer) generation(ctx context.Context) (uint64, error) {
	if a.current() {
		return a.local.Load(), nil
	}
	var g int64
	if err := a.pool.QueryRow(ctx, `SELECT gen FROM generation`).Scan(&g); err != nil {
		return 0, fmt.Errorf("read generation: %w", err)
	}
	return a.raise(uint64(g)), nil
}

// advance moves the generation on, in tx, and returns the new value; the
// trigger notifies the listeners at commit.
func advance(ctx context.Context, tx pgx.Tx) (uint64, error) {
	var g int64
	if err := tx.QueryRow(ctx, `UPDATE generation SET gen = gen + 1 RETURNING gen`).Scan(&g); err != nil {
		return 0, fmt.Errorf("advance generation: %w", err)
	}
	return uint64(g), nil
}

// announced is called after a change that advanced the generation to g
// committed: it waits until every live listener acknowledged g.
func (a *announcer) announced(ctx context.Context, g uint64) {
	a.raise(g)
	if !a.current() {
		// The acknowledgements would not reach our listener: ask for them
		// on a connection of our own.
		v := strconv.FormatUint(g, 10)
		a.confirmAlone(ctx, genChannel, []string{ackChannel}, []string{v}, func(acks map[string]bool) bool {
			for p := range acks {
				if n, err := strconv.ParseUint(p, 10, 64); err == nil && n >= g {
					return true
				}
			}
			return false
		})
		return
	}
	deadline := time.Now().Add(ackTimeout)
	var pids []uint32
	recheck := time.Now()
	for {
		if !time.Now().Before(recheck) {
			var err error
			if pids, err = a.listeners(ctx); err != nil {
				if !errors.Is(err, context.Canceled) {
					slog.Warn("metadata: list change listeners", "err", err)
				}
				return
			}
			recheck = time.Now().Add(100 * time.Millisecond)
		}
		a.mu.Lock()
		var pending []uint32
		for _, pid := range pids {
			if a.acks[pid] < g {
				pending = append(pending, pid)
			}
		}
		changed := a.changed
		a.mu.Unlock()
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slog.Warn("metadata: change listeners did not acknowledge a change", "generation", g, "backends", pending)
			return
		}
		select {
		case <-changed:
		case <-time.After(time.Until(recheck)):
		case <-ctx.Done():
			return
		}
	}
}

// confirmAlone is how a writer whose own listener is away (see loop) makes
// sure, as announced and waitObjects do through it otherwise, that every
// live listener heard its change before the write returns: on a
// connection of its own, under another application_name (so no writer
// waits for it), it LISTENs on ackChs, sends the change's notifications
// on channel again (hearing one twice is harmless: a generation is raised
// to, keys are forgotten again), lists the listeners, and waits until
// done says each one's acknowledgements (payloads) cover the change. A
// listener that connects meanwhile acknowledges the table's generation,
// and hears the object changes made after it LISTENed; one that does not
// answer within ackTimeout is logged and given up on, as by announced.
//
// At most maxConfirms run at once, so that a burst of writes while the
// listener is away does not use up the database's connections.
func (a *announcer) confirmAlone(ctx context.Context, channel string, ackChs []string, payloads []string, done func(acks map[string]bool) bool) {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	select {
	case a.confirms <- struct{}{}:
		defer func() { <-a.confirms }()
	case <-ctx.Done():
		slog.Warn("metadata: change listener away, and no turn to confirm a change", "channel", channel)
		return
	}
	cfg := a.cfg.Copy()
	cfg.RuntimeParams["application_name"] = confirmApp
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		slog.Warn("metadata: change listener away, and no connection to confirm a change", "err", err)
		return
	}
	defer conn.Close(context.Background())
	listen := ""
	for _, ch := range ackChs {
		listen += "LISTEN " + ch + "; "
	}
	if _, err = conn.Exec(ctx, listen); err == nil {
		for _, p := range payloads {
			if _, err = conn.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, p); err != nil {
				break
			}
		}
	}
	var pids []uint32
	if err == nil {
		// Our own listener, if it is back meanwhile, caught up with the
		// table and skips our object changes: not waited for.
		pids, err = a.listeners(ctx)
		own := a.objs.ownPID.Load()
		pids = slices.DeleteFunc(pids, func(p uint32) bool { return p == own })
	}
	acks := map[uint32]map[string]bool{}
	for err == nil {
		var pending []uint32
		for _, pid := range pids {
			if !done(acks[pid]) {
				pending = append(pending, pid)
			}
		}
		if len(pending) == 0 {
			return
		}
		var n *pgconn.Notification
		if n, err = conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				slog.Warn("metadata: change listeners did not acknowledge a change", "channel", channel, "backends", pending)
				return
			}
			break
		}
		if acks[n.PID] == nil {
			acks[n.PID] = map[string]bool{}
		}
		ackedIDs(n.Payload, func(id string) { acks[n.PID][id] = true })
	}
	if !errors.Is(err, context.Canceled) {
		slog.Warn("metadata: confirm a change with the listener away", "err", err)
	}
}

// listeners returns the backend PIDs of the database's listeners.
func (a *announcer) listeners(ctx context.Context) ([]uint32, error) {
	rows, err := a.pool.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, listenApp)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (uint32, error) {
		var pid int32
		err := r.Scan(&pid)
		return uint32(pid), err
	})
}
