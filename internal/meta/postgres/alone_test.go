package postgres

import (
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// killListener ends s's own change listener's connection (and no other),
// and waits until s noticed.
func killListener(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), `SELECT pg_terminate_backend($1)`, int32(s.gen.objs.ownPID.Load())); err != nil {
		t.Fatal(err)
	}
	for s.gen.live.Load() {
		time.Sleep(time.Millisecond)
	}
}

// TestWriterAloneWaitsForListeners: a writer whose own listener is away
// (its connection lost, not yet back) still returns from a change only
// once every other instance heard of it, a generation change and an object
// change alike: the acknowledgements its listener would have received are
// asked for on a connection of the writer's own.
func TestWriterAloneWaitsForListeners(t *testing.T) {
	setReconnectWait(t, time.Hour) // a's listener stays away
	url := testenv.Postgres(t)
	a, b := openAt(t, url), openAt(t, url)
	if err := a.CreateBucket(t.Context(), meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitWatching(t, b, "b") // else a's object change need not wait for b
	killListener(t, a)
	for _, c := range []struct {
		name  string
		write func() error
		seen  func() uint64 // what b holds of the change, rising with it
	}{
		{"generation", func() error { return a.SetSetting(t.Context(), "k", "v") }, func() uint64 { return b.gen.local.Load() }},
		{"object", func() error {
			_, err := a.PutObject(t.Context(), meta.Object{Bucket: "b", Key: "k", Modified: time.Now()}, nil)
			return err
		}, func() uint64 { return b.gen.objs.mark.Load() }},
	} {
		t.Run(c.name, func(t *testing.T) {
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
			before := c.seen()
			done := make(chan struct{})
			var err error
			go func() {
				err = c.write()
				close(done)
			}()
			<-entered // b's listener holds the notification: a has committed
			// Time for a writer that does not wait to return (a correct
			// one cannot, whatever the time: b has not acknowledged).
			time.Sleep(100 * time.Millisecond)
			select {
			case <-done:
				t.Error("the change returned before the other instance heard of it")
			default:
			}
			close(release)
			<-done
			if err != nil {
				t.Fatal(err)
			}
			if got := c.seen(); got <= before {
				t.Errorf("after the change returned, the other instance holds %d, want past %d", got, before)
			}
		})
	}
}
