package postgres

import (
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestJobLockSessionEnds: when the session holding a job lock ends
// without the Store closing it (the database server killed it, the
// network dropped it), the holder's Lost closes and another node takes
// the lock; the holder can take locks again on a new session.
func TestJobLockSessionEnds(t *testing.T) {
	old := jobPingEvery
	jobPingEvery = 20 * time.Millisecond
	t.Cleanup(func() { jobPingEvery = old })
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	ctx := t.Context()
	l, ok, err := a.TryLock(ctx, "gc")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v, %v", ok, err)
	}
	var app string
	if err := b.pool.QueryRow(ctx, `SELECT application_name FROM pg_locks JOIN pg_stat_activity USING (pid)
		WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2::oid`,
		uint32(jobLockClass), uint32(jobKey("gc"))).Scan(&app); err != nil {
		t.Fatalf("finding the lock's session: %v", err)
	}
	if app != jobApp {
		t.Errorf("the lock is held by a session named %q, want %q", app, jobApp)
	}
	if _, ok, _ := b.TryLock(ctx, "gc"); ok {
		t.Fatal("the other node took a held lock")
	}
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, jobApp); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("Lost not closed 10 s after the session holding the lock ended")
	}
	// The server frees the lock as the session's process exits, a moment
	// after the holder saw the connection go.
	var lb meta.Lease
	for deadline := time.Now().Add(10 * time.Second); lb == nil; {
		l, ok, err := b.TryLock(ctx, "gc")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			lb = l
		} else if time.Now().After(deadline) {
			t.Fatal("the other node cannot take the lock 10 s after the holder's session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok, _ := a.TryLock(ctx, "gc"); ok {
		t.Fatal("the former holder took the lock back while the other node holds it")
	}
	if la, ok, err := a.TryLock(ctx, "lifecycle"); err != nil || !ok {
		t.Fatalf("the former holder cannot take another lock: %v, %v", ok, err)
	} else {
		la.Release()
	}
	lb.Release()
}

// TestJobLockUncounted: taking, holding (pings) and releasing job locks
// is background traffic, left out of Statements, which counts what the
// Store's callers cost.
func TestJobLockUncounted(t *testing.T) {
	old := jobPingEvery
	jobPingEvery = 5 * time.Millisecond
	t.Cleanup(func() { jobPingEvery = old })
	s := openAt(t, testenv.Postgres(t))
	before := s.Statements()
	gc, ok, err := s.TryLock(t.Context(), "gc")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v, %v", ok, err)
	}
	life, ok, err := s.TryLock(t.Context(), "lifecycle")
	if err != nil || !ok {
		t.Fatalf("TryLock: %v, %v", ok, err)
	}
	time.Sleep(50 * time.Millisecond) // some pings
	gc.Release()                      // an unlock: lifecycle is still held
	life.Release()
	if n := s.Statements() - before; n != 0 {
		t.Errorf("job locks counted %d statements, want 0", n)
	}
}
