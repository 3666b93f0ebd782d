package jobs

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

// quiet discards the Runners' logs: a closed store's refusals, every
// interval.
var quiet = slog.New(slog.DiscardHandler)

// openStore opens the SQLite store at path until the test ends.
func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// node is a Runner running one job on its own store instance, counting
// its runs.
type node struct {
	runs    atomic.Int64
	running atomic.Bool
	stop    context.CancelFunc
	done    chan struct{}
}

// start runs the job "gc" on a node using store; overlap is set when a
// run begins while another node's run has not ended (busy counts the
// runs in progress).
func start(t *testing.T, store meta.JobLocks, every time.Duration, busy *atomic.Int32, overlap *atomic.Bool) *node {
	n := &node{done: make(chan struct{})}
	ctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	r := &Runner{Locks: store, Log: quiet}
	job := Job{Name: "gc", Every: every, Run: func(ctx context.Context) error {
		if busy.Add(1) > 1 {
			overlap.Store(true)
		}
		defer busy.Add(-1)
		n.runs.Add(1)
		time.Sleep(every / 2) // a run that takes a while
		return nil
	}}
	go func() { r.Run(ctx, job); close(n.done) }()
	t.Cleanup(func() { n.halt() })
	return n
}

// halt stops the node's Runner and waits for it.
func (n *node) halt() {
	n.stop()
	<-n.done
}

// waitRuns waits until n ran the job at least want times.
func waitRuns(t *testing.T, n *node, want int64, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.runs.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d runs after 10 s, want %d", what, n.runs.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOneNodeAtATime: of two nodes on one store, one runs the job, never
// both at once; when it stops, the other takes over within a few
// intervals.
func TestOneNodeAtATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	const every = 10 * time.Millisecond
	var busy atomic.Int32
	var overlap atomic.Bool
	a := start(t, openStore(t, path), every, &busy, &overlap)
	waitRuns(t, a, 1, "first node")
	b := start(t, openStore(t, path), every, &busy, &overlap)
	waitRuns(t, a, a.runs.Load()+5, "first node, with the second one started")
	if n := b.runs.Load(); n != 0 {
		t.Fatalf("the second node ran the job %d times while the first held it", n)
	}
	a.halt()
	ran := a.runs.Load()
	waitRuns(t, b, 3, "second node, after the first stopped")
	if a.runs.Load() != ran {
		t.Error("the first node ran the job after it stopped")
	}
	if overlap.Load() {
		t.Error("runs of the two nodes overlapped")
	}
}

// TestLostLease: when the store loses the lock (here: the holder's store
// is closed under it), the run in progress is cancelled and the node
// stops running the job; another node takes it.
func TestLostLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	sa := openStore(t, path)
	const every = 10 * time.Millisecond
	started := make(chan struct{})
	cancelled := make(chan struct{})
	var once, cancelOnce sync.Once
	var runsA atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		(&Runner{Locks: sa, Log: quiet}).Run(ctx, Job{Name: "gc", Every: every, Run: func(ctx context.Context) error {
			runsA.Add(1)
			once.Do(func() { close(started) })
			<-ctx.Done()
			cancelOnce.Do(func() { close(cancelled) })
			return ctx.Err()
		}})
		close(done)
	}()
	defer func() { stop(); <-done }()
	<-started
	sa.Close()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the run was not cancelled when its lock was lost")
	}
	var busy atomic.Int32
	var overlap atomic.Bool
	b := start(t, openStore(t, path), every, &busy, &overlap)
	waitRuns(t, b, 2, "another node, after the holder lost the lock")
	if n := runsA.Load(); n != 1 {
		t.Errorf("the node that lost the lock ran the job %d times, want 1", n)
	}
}

// TestNoInterval: a job without a positive interval never runs, and Run
// returns at once.
func TestNoInterval(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "meta.db"))
	done := make(chan struct{})
	go func() {
		(&Runner{Locks: store, Log: quiet}).Run(t.Context(), Job{Name: "gc", Run: func(context.Context) error {
			t.Error("ran")
			return nil
		}})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run of a job without an interval did not return")
	}
}
