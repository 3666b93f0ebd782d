package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/stall"
)

// TestLockedDatabaseBounded: while another process holds the write lock,
// the write the committer is on waits busyTimeout and fails with
// SQLITE_BUSY, and a write made for a request with a bound (stall.Bound)
// that queues behind it gives up after its bound, with errLocked, without
// ever being taken (so it never commits); both are Unreachable (a 503
// naming the metadata store). A write without a bound waits its turn, and
// once the lock is gone every write succeeds.
func TestLockedDatabaseBounded(t *testing.T) {
	defer func(d time.Duration) { busyTimeout = d }(busyTimeout)
	busyTimeout = 3 * time.Second
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := holdWriteLock(t, path)
	ctx := stall.WithBound(t.Context(), 100*time.Millisecond)

	taken := s.batches.Load()
	first := make(chan error, 1)
	go func() { first <- s.CreateUser(ctx, meta.User{Name: "first"}) }()
	// Wait for the committer to take it, then queue behind it.
	for s.batches.Load() == taken {
		time.Sleep(time.Millisecond)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "queued"}); err != errLocked || !s.Unreachable(err) {
		t.Errorf("a bounded write queued behind a locked database: %v, want errLocked", err)
	}
	if err := <-first; !isBusy(err) || !s.Unreachable(err) {
		t.Errorf("the write the committer was on: %v, want SQLITE_BUSY", err)
	}
	release()
	// Bounded again, but by more than a loaded machine ever takes to commit.
	ctx = stall.WithBound(t.Context(), 10*time.Second)
	if err := s.CreateUser(ctx, meta.User{Name: "after"}); err != nil {
		t.Fatalf("a write once the lock is gone: %v", err)
	}
	if _, err := s.User(ctx, "queued"); err == nil {
		t.Error("the write that gave up in the queue was committed")
	}
}
