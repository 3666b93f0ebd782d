package metatest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// tryLock calls TryLock and fails the test on an error.
func tryLock(t *testing.T, s meta.Store, name string) (meta.Lease, bool) {
	t.Helper()
	l, ok, err := s.TryLock(t.Context(), name)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", name, err)
	}
	if ok != (l != nil) {
		t.Fatalf("TryLock(%q): ok %v with lease %v", name, ok, l)
	}
	return l, ok
}

// mustLock fails unless TryLock takes the lock.
func mustLock(t *testing.T, s meta.Store, name, why string) meta.Lease {
	t.Helper()
	l, ok := tryLock(t, s, name)
	if !ok {
		t.Fatalf("TryLock(%q) %s: refused", name, why)
	}
	return l
}

// mustRefuse fails unless TryLock is refused.
func mustRefuse(t *testing.T, s meta.Store, name, why string) {
	t.Helper()
	if l, ok := tryLock(t, s, name); ok {
		l.Release()
		t.Fatalf("TryLock(%q) %s: taken", name, why)
	}
}

// lockWithin takes the lock, trying until it is free or d has passed: a
// holder that went away frees its lock when its store notices (a
// database server ends the session a moment after the client left).
func lockWithin(t *testing.T, s meta.Store, name string, d time.Duration, why string) meta.Lease {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if l, ok := tryLock(t, s, name); ok {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("TryLock(%q) %s: still refused after %v", name, why, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// testJobLocksShared: a job lock has one holder across the instances of
// a store (the holding instance included); names are independent;
// Release, and closing the holding instance, free the lock for the other
// instance and close the lease's Lost.
func testJobLocksShared(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	for _, name := range []string{"", "GC", "a/b", "../x", "gc job", strings.Repeat("x", 65)} {
		if _, _, err := a.TryLock(t.Context(), name); !errors.Is(err, meta.ErrInvalidJobName) {
			t.Errorf("TryLock(%q): %v, want %v", name, err, meta.ErrInvalidJobName)
		}
	}

	gc := mustLock(t, a, "gc", "of a free lock")
	mustRefuse(t, a, "gc", "through the instance holding it")
	mustRefuse(t, b, "gc", "held by the other instance")
	life := mustLock(t, b, "lifecycle", "of another name")
	sweep := mustLock(t, b, "sweep-1", "of a third name")
	mustRefuse(t, a, "lifecycle", "held by the other instance")
	if isClosed(gc.Lost()) || isClosed(life.Lost()) {
		t.Fatal("Lost closed while the lock is held")
	}

	// Release frees the lock at once, whatever else the holder holds.
	life.Release()
	if !isClosed(life.Lost()) {
		t.Error("Lost still open after Release")
	}
	life.Release() // again: nothing happens
	life = mustLock(t, a, "lifecycle", "released by the other instance")
	mustRefuse(t, b, "sweep-1", "still held by the same instance")
	gc.Release()
	gc = mustLock(t, b, "gc", "released by the other instance")
	mustRefuse(t, a, "gc", "taken over by the other instance")

	// Closing the holding instance frees its locks for the other.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []meta.Lease{gc, sweep} {
		if !isClosed(l.Lost()) {
			t.Error("Lost still open after the holding instance closed")
		}
		l.Release() // after Lost and Close: nothing happens
	}
	if _, _, err := b.TryLock(t.Context(), "other"); err == nil {
		t.Error("TryLock through a closed instance succeeded")
	}
	lockWithin(t, a, "gc", 10*time.Second, "after the holding instance closed").Release()
	lockWithin(t, a, "sweep-1", 10*time.Second, "after the holding instance closed").Release()
	if isClosed(life.Lost()) {
		t.Error("a's lease lost when b closed")
	}
	life.Release()
}

// testJobLocksRace: of many TryLocks of one name at once, through two
// instances, exactly one takes it.
func testJobLocksRace(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	for round := range 5 {
		const n = 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []meta.Lease
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				l, ok, err := s.TryLock(t.Context(), "race")
				if err != nil {
					t.Errorf("TryLock: %v", err)
					return
				}
				if ok {
					mu.Lock()
					won = append(won, l)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d of %d racing TryLocks took the lock, want 1", round, len(won), n)
		}
		won[0].Release()
	}
}
