package postgres

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// waitWatching waits until s vouches for bucket (its registration is
// ready), and returns its mark.
func waitWatching(t *testing.T, s *Store, bucket string) uint64 {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if m, ok := s.ObjectMark(bucket); ok {
			return m
		}
	}
	t.Fatalf("ObjectMark(%q) never ok", bucket)
	return 0
}

// waitMarked waits until s's writes to bucket wait for no other node:
// every other listener is known to register buckets (markListener), and
// none registered bucket.
func waitMarked(t *testing.T, s *Store, bucket string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		pids, err := s.watchersOf(t.Context(), bucket)
		if err == nil && len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes to %s still wait for %v, %v", bucket, pids, err)
		}
	}
}

// changedKeys returns the bucket/key changes s reports after since.
func changedKeys(t *testing.T, s *Store, since uint64) []string {
	t.Helper()
	var got []string
	_, all, err := s.ObjectChanges(t.Context(), since, func(bucket, key string) { got = append(got, bucket+"/"+key) })
	if err != nil || all {
		t.Fatalf("ObjectChanges(%d): all %v, %v", since, all, err)
	}
	return got
}

// TestWritesTellOnlyWatchers: a write to a bucket no other node
// registered sends no note (and waits for nobody); once a node registered
// the bucket, each write is in its log by the time the write returns.
func TestWritesTellOnlyWatchers(t *testing.T) {
	setJoinGrace(t, 10*time.Millisecond)
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	spy, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Close(context.Background())
	if _, err := spy.Exec(t.Context(), `LISTEN `+objChannel+`; LISTEN spy_done`); err != nil {
		t.Fatal(err)
	}
	notes := func() []string { return spyHeard(t, spy)[objChannel] }
	ctx := t.Context()
	for _, name := range []string{"quiet", "read"} {
		if err := a.CreateBucket(ctx, meta.Bucket{Name: name, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	since := waitWatching(t, b, "read")
	waitWatching(t, a, "") // a's listener is live: its writes would tell
	waitMarked(t, a, "quiet")
	notes()

	put := func(bucket, key string) {
		t.Helper()
		if _, err := a.PutObject(ctx, meta.Object{Bucket: bucket, Key: key, Modified: time.Now()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	put("quiet", "k")
	if err := a.SetObjectTags(ctx, "quiet", "k", []meta.Tag{{Key: "t", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteObject(ctx, "quiet", "k", nil); err != nil {
		t.Fatal(err)
	}
	if got := notes(); len(got) != 0 {
		t.Errorf("writes to a bucket nobody else registered sent notes %q", got)
	}
	put("read", "k1")
	if err := a.SetObjectTags(ctx, "read", "k1", []meta.Tag{{Key: "t", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteObject(ctx, "read", "k1", nil); err != nil {
		t.Fatal(err)
	}
	if got, want := changedKeys(t, b, since), []string{"read/k1", "read/k1", "read/k1"}; !slices.Equal(got, want) {
		t.Errorf("b's log after a's writes to a bucket b registered: %q, want %q", got, want)
	}
	if got := notes(); len(got) != 3 {
		t.Errorf("writes to a registered bucket sent %d notes, want 3", len(got))
	}
}

// TestLateWatcherTold: a write whose transaction sent no note (no watcher
// at the first look) but whose bucket has a watcher after the commit
// sends the note then, and waits for it (tellObjects).
func TestLateWatcherTold(t *testing.T) {
	setJoinGrace(t, 10*time.Millisecond)
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	if err := a.CreateBucket(t.Context(), meta.Bucket{Name: "late", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	since := waitWatching(t, b, "late")
	if err := a.tellObjects(t.Context(), "late", []string{"k"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(t, b, since); !slices.Equal(got, []string{"late/k"}) {
		t.Errorf("b's log after a late note: %q, want late/k", got)
	}
}

// TestWatchMissingBucket: a bucket that does not exist is not registered,
// until it is created; the rows of listeners that are gone are deleted by
// the next registration.
func TestWatchMissingBucket(t *testing.T) {
	setJoinGrace(t, 10*time.Millisecond)
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	waitWatching(t, b, "")
	gen := func() (g int64) {
		t.Helper()
		if err := a.pool.QueryRow(t.Context(), `SELECT gen FROM generation`).Scan(&g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	g0 := gen()
	for range 50 {
		if _, ok := b.ObjectMark("later"); ok {
			t.Fatal("ObjectMark ok for a bucket that does not exist")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if g := gen(); g != g0 {
		t.Errorf("registering a missing bucket moved the generation from %d to %d", g0, g)
	}
	if err := a.CreateBucket(t.Context(), meta.Bucket{Name: "later", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitWatching(t, b, "later")
	pids := func() []uint32 {
		t.Helper()
		v, err := a.loadWatchers(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		return v.by["later"]
	}
	if got := pids(); !slices.Equal(got, []uint32{b.gen.objs.ownPID.Load()}) {
		t.Errorf("watchers of later: %v, want b's listener %d", got, b.gen.objs.ownPID.Load())
	}
	b.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ls, err := a.gen.listeners(t.Context()); err == nil && len(ls) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b's listener never left")
		}
	}
	if err := a.CreateBucket(t.Context(), meta.Bucket{Name: "other", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitWatching(t, a, "other")
	if got := pids(); len(got) != 0 {
		t.Errorf("watchers of later after b closed and a registered: %v, want none", got)
	}
}

// TestEarlierListenerWaitedFor: a listener of an earlier version (one
// that never marked itself as registering buckets) keeps answers about
// every bucket, so every write tells it and waits for it.
func TestEarlierListenerWaitedFor(t *testing.T) {
	setJoinGrace(t, 10*time.Millisecond)
	url := testenv.Postgres(t)
	a := openAt(t, url)
	if err := a.CreateBucket(t.Context(), meta.Bucket{Name: "quiet", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitWatching(t, a, "")
	waitMarked(t, a, "quiet")
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = listenApp
	old, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close(context.Background())
	if _, err := old.Exec(t.Context(), `LISTEN `+objChannel); err != nil {
		t.Fatal(err)
	}
	a.gen.otherListeners(t.Context(), true) // as a writer will within listenersFor
	done := make(chan error, 1)
	go func() {
		_, err := a.PutObject(t.Context(), meta.Object{Bucket: "quiet", Key: "k", Modified: time.Now()}, nil)
		done <- err
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n, err := old.WaitForNotification(ctx)
	if err != nil {
		t.Fatalf("the earlier version's listener heard no note: %v", err)
	}
	var note objNote
	if err := json.Unmarshal([]byte(n.Payload), &note); err != nil || !slices.Equal(note.Keys, []string{"k"}) {
		t.Fatalf("note %q: %v", n.Payload, err)
	}
	select {
	case err := <-done:
		t.Fatalf("the write returned (%v) before the earlier version's listener acknowledged it", err)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := old.Exec(t.Context(), `SELECT pg_notify($1, $2)`, ackChannelOf(note), note.ID); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
