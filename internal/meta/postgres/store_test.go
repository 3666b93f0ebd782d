package postgres

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestConcurrentOpen: servers starting at once on a fresh database each
// open it; the migrations run once, under the advisory lock.
func TestConcurrentOpen(t *testing.T) {
	url := testenv.Postgres(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var rows, version int
	if err := stores[0].pool.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != len(ms) || version != len(ms) {
		t.Errorf("schema_migrations: %d rows up to version %d, want %d", rows, version, len(ms))
	}
}

// TestNewerSchemaRefused: a database migrated by a newer program is not
// opened.
func TestNewerSchemaRefused(t *testing.T) {
	url := testenv.Postgres(t)
	s := openAt(t, url)
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(t.Context(), url); err == nil {
		s2.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

// killListeners ends every change listener's connection to the store's
// database, and waits until each of stores noticed.
func killListeners(t *testing.T, stores ...*Store) {
	t.Helper()
	if _, err := stores[0].pool.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, listenApp); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		for s.gen.live.Load() {
			time.Sleep(time.Millisecond)
		}
	}
}

// setReconnectWait sets reconnectWait for the test.
func setReconnectWait(t *testing.T, d time.Duration) {
	old := reconnectWait
	reconnectWait = d
	t.Cleanup(func() { reconnectWait = old })
}

// setJoinGrace sets joinGrace for the test.
func setJoinGrace(t *testing.T, d time.Duration) {
	old := joinGrace
	joinGrace = d
	t.Cleanup(func() { joinGrace = old })
}

// spyHeard returns, by channel, what spy (a connection that LISTENs on
// spy_done too) heard before its own notification, sent after them, came
// back.
func spyHeard(t *testing.T, spy *pgx.Conn) map[string][]string {
	t.Helper()
	if _, err := spy.Exec(t.Context(), `SELECT pg_notify('spy_done', '')`); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for {
		n, err := spy.WaitForNotification(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n.Channel == "spy_done" {
			return got
		}
		got[n.Channel] = append(got[n.Channel], n.Payload)
	}
}

// TestListenerLost: while an instance's listener is down, it reads the
// generation from the table, so a change made elsewhere still shows at
// once.
func TestListenerLost(t *testing.T) {
	setReconnectWait(t, time.Hour) // stay down for the test
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	killListeners(t, a, b)
	for i, w := range []*Store{a, b, a} {
		before := max(mustGen(t, a), mustGen(t, b))
		if err := w.SetSetting(t.Context(), "k", string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*Store{a, b} {
			if g := mustGen(t, r); g <= before {
				t.Errorf("change %d: generation %d, want past %d", i, g, before)
			}
		}
	}
}

// TestListenerReconnects: an instance whose listener was lost catches up
// on reconnecting, changes made meanwhile included, and then hears
// changes again without reading the table.
func TestListenerReconnects(t *testing.T) {
	setReconnectWait(t, 10*time.Millisecond)
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	// Both listeners end (killListeners ends every one), and the test waits
	// until both noticed: waiting for b's alone let a go on as if its own
	// listener were live.
	killListeners(t, a, b)
	for !a.gen.live.Load() {
		time.Sleep(time.Millisecond)
	}
	if err := a.SetSetting(t.Context(), "k", "during"); err != nil {
		t.Fatal(err)
	}
	var g int64
	if err := a.pool.QueryRow(t.Context(), `SELECT gen FROM generation`).Scan(&g); err != nil {
		t.Fatal(err)
	}
	for !b.gen.live.Load() {
		time.Sleep(time.Millisecond)
	}
	if got := b.gen.local.Load(); got < uint64(g) {
		t.Errorf("after reconnecting, local generation %d, want %d", got, g)
	}
	before := mustGen(t, b)
	if err := a.SetSetting(t.Context(), "k", "after"); err != nil {
		t.Fatal(err)
	}
	if got := b.gen.local.Load(); got <= before {
		t.Errorf("a change after reconnecting: local generation %d, want past %d", got, before)
	}
}

func mustGen(t *testing.T, s *Store) uint64 {
	t.Helper()
	g, err := s.Generation(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestWriterWaitsForListeners: an announced change returns only once
// every other instance heard of it, so that their next request sees it.
func TestWriterWaitsForListeners(t *testing.T) {
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(an *announcer) {
		if an == b.gen {
			once.Do(func() { close(entered) })
			<-release
		}
	}
	heardHook.Store(&hook)
	t.Cleanup(func() { heardHook.Store(nil) })
	before := mustGen(t, b)
	done := make(chan struct{})
	var err error
	go func() {
		err = a.SetSetting(t.Context(), "k", "v")
		close(done)
	}()
	<-entered // b's listener holds the notification, so a has committed
	// Time for a writer that does not wait to return (a correct one
	// cannot, whatever the time: b has not acknowledged).
	time.Sleep(100 * time.Millisecond)
	select {
	case <-done:
		t.Error("SetSetting returned before the other instance heard of the change")
	default:
	}
	close(release)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if g := b.gen.local.Load(); g <= before {
		t.Errorf("after the change returned, the other instance holds generation %d, want past %d", g, before)
	}
}

// TestSilentListener: an instance whose listener is connected but hears
// nothing (a partition, a stuck process) stops trusting its generation
// before a writer stops waiting for it, so once the writer returned, the
// change shows there too.
func TestSilentListener(t *testing.T) {
	for v, d := range map[*time.Duration]time.Duration{&ackTimeout: 500 * time.Millisecond, &staleAfter: 100 * time.Millisecond, &pingEvery: 20 * time.Millisecond} {
		old := *v
		*v = d
		t.Cleanup(func() { *v = old })
	}
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	release := make(chan struct{})
	hook := func(an *announcer) {
		if an == b.gen {
			<-release // b's listener is stuck from its first change on
		}
	}
	heardHook.Store(&hook)
	t.Cleanup(func() {
		close(release)
		heardHook.Store(nil)
	})
	before := mustGen(t, b)
	if err := a.SetSetting(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if g := mustGen(t, b); g <= before {
		t.Errorf("through the instance with a stuck listener: generation %d, want past %d", g, before)
	}
}

// TestObjectWatchGap: while an instance's listener is down, its
// ObjectMark says the answers kept in memory may not be used; once it is
// back (and past joinGrace), a reader behind the reconnection is told to
// forget everything, since changes made meanwhile were not heard.
func TestObjectWatchGap(t *testing.T) {
	setReconnectWait(t, 10*time.Millisecond)
	setJoinGrace(t, 50*time.Millisecond)
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	waitMark := func(s *Store) uint64 {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if m, ok := s.ObjectMark("b"); ok {
				return m
			}
		}
		t.Fatal("ObjectMark never ok")
		return 0
	}
	if err := a.CreateBucket(t.Context(), meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	since := waitMark(b)
	killListeners(t, b)
	if _, ok := b.ObjectMark("b"); ok {
		t.Error("ObjectMark ok while the listener is down")
	}
	for !a.gen.live.Load() { // killListeners ended a's listener too
		time.Sleep(time.Millisecond)
	}
	if _, err := a.PutObject(t.Context(), meta.Object{Bucket: "b", Key: "k", Modified: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	waitMark(b)
	_, all, err := b.ObjectChanges(t.Context(), since, func(bucket, key string) {})
	if err != nil || !all {
		t.Errorf("ObjectChanges across the reconnection: all %v, %v; want all", all, err)
	}
}

// TestMigrationWaitSaid: a server that finds another holding the
// migration lock says it is waiting, then opens once the lock is free.
func TestMigrationWaitSaid(t *testing.T) {
	url := testenv.Postgres(t)
	holder, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil)))
	defer slog.SetDefault(old)

	done := make(chan error, 1)
	go func() {
		s, err := Open(t.Context(), url)
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	said := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(logs.String(), "waiting for another process to finish upgrading the metadata schema")
	}
	for deadline := time.Now().Add(30 * time.Second); !said(); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("Open returned (%v) while another held the migration lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("Open never said it waits for the migration lock")
		}
	}
	if _, err := holder.Exec(t.Context(), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Open after the lock was freed: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestOwnNotesKnownByPrefix: the listener skips this Store's own notes by
// the start of their payload, unread (heardObjects), so notes must
// begin with the id that names the Store, and another Store's must not.
func TestOwnNotesKnownByPrefix(t *testing.T) {
	w := newObjWatch("node1")
	_, payloads := w.notes("b", []string{"k", strings.Repeat("x", 3000), strings.Repeat("y", 3000)})
	if len(payloads) < 2 {
		t.Fatalf("%d payloads, want the keys spread over several", len(payloads))
	}
	for _, p := range payloads {
		if !strings.HasPrefix(p, `{"i":"node1.`) {
			t.Errorf("own note %.40q does not begin with its id", p)
		}
	}
	// A Store whose name extends this one's is another Store.
	_, others := newObjWatch("node11").notes("b", []string{"k"})
	if strings.HasPrefix(others[0], `{"i":"node1.`) {
		t.Errorf("node11's note %.40q taken for node1's", others[0])
	}
}

// TestAcksOnWritersChannel: the other nodes acknowledge a write's note on
// the writer's own channel, where no third node hears them, and a note
// without one (a writer of an earlier version) on the shared channel.
func TestAcksOnWritersChannel(t *testing.T) {
	setJoinGrace(t, 10*time.Millisecond)
	url := testenv.Postgres(t)
	a, b, c := openAt(t, url), openAt(t, url), openAt(t, url)
	spy, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close(context.Background())
	own := a.gen.objs.ackChannel()
	if _, err := spy.Exec(t.Context(), `LISTEN `+objAckChannel+`; LISTEN `+own+`; LISTEN spy_done`); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateBucket(t.Context(), meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{b, c} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if _, ok := s.ObjectMark("b"); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("ObjectMark never ok")
			}
		}
	}
	acks := func() map[string][]string { return spyHeard(t, spy) }
	acks() // whatever came before
	if _, err := a.PutObject(t.Context(), meta.Object{Bucket: "b", Key: "k", Modified: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	got := acks()
	if len(got[own]) != 2 || len(got[objAckChannel]) != 0 {
		t.Errorf("acknowledgements of a's write: %d on a's channel, %d on the shared one; want 2 and 0", len(got[own]), len(got[objAckChannel]))
	}
	// A note as an earlier version wrote it.
	if _, err := spy.Exec(t.Context(), `SELECT pg_notify($1, $2)`, objChannel, `{"i":"old.1","f":"old","b":"b","k":["k2"]}`); err != nil {
		t.Fatal(err)
	}
	var shared []string
	for deadline := time.Now().Add(10 * time.Second); len(shared) < 3 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		shared = append(shared, acks()[objAckChannel]...)
	}
	// (To a writer named old, a is another node too.)
	if len(shared) != 3 || shared[0] != "old.1" || shared[1] != "old.1" || shared[2] != "old.1" {
		t.Errorf("acknowledgements of an earlier version's note on the shared channel: %q, want old.1 from a, b and c", shared)
	}
}
