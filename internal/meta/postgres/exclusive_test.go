package postgres

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestExclusive: steps run under one name through different instances
// (as on different nodes) never overlap, steps under another name do not
// wait for them, and fn's error comes back unchanged.
func TestExclusive(t *testing.T) {
	url := testenv.Postgres(t)
	stores := []*Store{openAt(t, url), openAt(t, url), openAt(t, url)}
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			err := stores[i%len(stores)].Exclusive(t.Context(), "first-start", func() error {
				n := inside.Add(1)
				defer inside.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond)
				return nil
			})
			if err != nil {
				t.Errorf("Exclusive: %v", err)
			}
		})
	}
	wg.Wait()
	if m := most.Load(); m != 1 {
		t.Errorf("%d steps ran at once under one lock, want 1", m)
	}

	// Another name is another lock: taken while the first is held.
	held, release := make(chan struct{}), make(chan struct{})
	go stores[0].Exclusive(t.Context(), "first-start", func() error {
		close(held)
		<-release
		return nil
	})
	<-held
	done := make(chan error, 1)
	go func() { done <- stores[1].Exclusive(t.Context(), "other", func() error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Exclusive other: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("a lock of another name waited for first-start")
	}
	close(release)

	want := errors.New("step failed")
	if err := stores[2].Exclusive(t.Context(), "first-start", func() error { return want }); err != want {
		t.Errorf("Exclusive returned %v, want fn's error", err)
	}
}
