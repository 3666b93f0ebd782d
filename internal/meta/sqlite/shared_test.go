package sqlite

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Tests of sharing the database with other Stores and other processes:
// the CLI changes users while the server runs.

func gen(t *testing.T, s *Store) uint64 {
	t.Helper()
	g, err := s.Generation(t.Context())
	if err != nil {
		t.Fatalf("Generation: %v", err)
	}
	return g
}

// TestTwoStores opens the database twice in one process: each store sees
// the other's changes, data and generation alike, at once.
func TestTwoStores(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	for i, c := range []struct {
		from, to *Store
		change   func(s *Store) error
	}{
		{a, b, func(s *Store) error { return s.CreateUser(ctx, meta.User{Name: "alice", Created: time.Now()}) }},
		{b, a, func(s *Store) error { return s.SetUserPolicy(ctx, "alice", []byte(`{}`)) }},
		{a, b, func(s *Store) error { return s.SetSetting(ctx, "account", "123456789012") }},
	} {
		before := gen(t, c.to)
		if err := c.change(c.from); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
		if after := gen(t, c.to); after == before {
			t.Errorf("change %d: the other store's generation stayed %d", i, after)
		}
		if ga, gb := gen(t, a), gen(t, b); ga != gb {
			t.Errorf("change %d: generations %d and %d differ", i, ga, gb)
		}
	}
	if u, err := b.User(ctx, "alice"); err != nil || string(u.Policy) != "{}" {
		t.Errorf("User through the other store = %+v, %v", u, err)
	}

	// Closing one leaves the other working; the closed one says so.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Generation(ctx); !errors.Is(err, errClosed) {
		t.Errorf("Generation after Close: %v, want errClosed", err)
	}
	before := gen(t, b)
	if err := b.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if gen(t, b) == before {
		t.Error("generation unchanged after Close of the other store")
	}
}

// TestGenerationFile checks the counter file's life: created with the
// database, kept across reopening, never shrunk.
func TestGenerationFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(ctx, "x", "1"); err != nil {
		t.Fatal(err)
	}
	g := gen(t, s)
	if g == 0 {
		t.Error("generation 0 after a change")
	}
	s.Close()
	fi, err := os.Stat(path + "-gen")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != genSize {
		t.Errorf("counter file size %d, want %d", fi.Size(), genSize)
	}
	db, _ := os.Stat(path)
	if fi.Mode() != db.Mode() {
		t.Errorf("counter file mode %v, database %v", fi.Mode(), db.Mode())
	}
	// A larger file (from a later version, say) is used, not truncated.
	if err := os.Truncate(path+"-gen", 4096); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := gen(t, s); got != g {
		t.Errorf("generation after reopening %d, want %d", got, g)
	}
	if fi, err := os.Stat(path + "-gen"); err != nil || fi.Size() != 4096 {
		t.Errorf("counter file after reopening: %v, %v", fi.Size(), err)
	}
}

// child returns a command running this test binary as the helper process
// role (see TestMain), with env added to its environment.
func child(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append(env, childRoleEnv+"="+role)...)
	return cmd
}

// TestOtherProcess has another process write while this one writes too:
// neither fails on the other's locks, and this one sees the other's
// changes and generation.
func TestOtherProcess(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "server-made"}); err != nil {
		t.Fatal(err)
	}
	const users = 40
	before := gen(t, s)

	// Write objects here until the other process is done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var puts atomic.Int64
	var errs [4]error
	for w := range errs {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.PutObject(ctx, testObj(fmt.Sprintf("%d/%d", w, i), "blob"), nil); err != nil {
					errs[w] = err
					return
				}
				puts.Add(1)
				// A busy server, not a loop that holds the write lock
				// all the time: on a loaded machine SQLite's busy
				// handler, which polls, could then starve the other
				// process past its timeout (seen once in CI).
				time.Sleep(time.Millisecond)
			}
		})
	}
	cmd := child(t, "other-writer", "NIXBUCKET_META_OTHER="+path, "NIXBUCKET_META_USERS="+strconv.Itoa(users))
	out, err := cmd.CombinedOutput()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("other process: %v\n%s", err, out)
	}
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("writes here while the other process wrote: %v", err)
	}
	t.Logf("%d puts here while the other process made %d users", puts.Load(), users)

	if g := gen(t, s); g-before < users {
		t.Errorf("generation moved by %d, want at least %d", g-before, users)
	}
	us, err := s.Users(ctx)
	if err != nil || len(us) != users+1 {
		t.Fatalf("Users = %d users, %v; want %d", len(us), err, users+1)
	}
	if p, err := s.BucketPolicy(ctx, "b"); err != nil || string(p) != `{"Statement":[]}` {
		t.Errorf("BucketPolicy = %q, %v", p, err)
	}
}

// holdWriteLock starts another process that takes the database's write
// lock and holds it until the returned function is called, which then
// waits for the process to commit and exit.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	cmd := child(t, "hold-write-lock", "NIXBUCKET_META_HOLD="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			stdin.Close()
			io.Copy(io.Discard, stdout)
			if err := cmd.Wait(); err != nil {
				t.Errorf("lock holder: %v\n%s", err, stderr.String())
			}
		})
	}
	t.Cleanup(release)
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "locked\n" {
		release()
		t.Fatalf("lock holder: %q, %v", line, err)
	}
	return release
}

// TestWriteWaitsForOtherProcess checks that a write waits for another
// process's write transaction and then succeeds; that a wait beyond
// busyTimeout fails the batch but not the store; and that opening and
// reading do not wait.
func TestWriteWaitsForOtherProcess(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateUser(ctx, meta.User{Name: "alice"}); err != nil {
		t.Fatal(err)
	}

	t.Run("Waits", func(t *testing.T) {
		release := holdWriteLock(t, path)
		done := make(chan error, 1)
		go func() { done <- s.CreateUser(ctx, meta.User{Name: "bob"}) }()
		select {
		case err := <-done:
			t.Fatalf("CreateUser returned while another process held the write lock: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if _, err := s.User(ctx, "alice"); err != nil {
			t.Errorf("read while another process held the write lock: %v", err)
		}
		release()
		if err := <-done; err != nil {
			t.Fatalf("CreateUser after the other process committed: %v", err)
		}
		if v, err := s.Setting(ctx, "holder"); err != nil || v != "was here" {
			t.Errorf("the other process's setting = %q, %v", v, err)
		}
	})

	t.Run("TimesOut", func(t *testing.T) {
		defer func(d time.Duration) { busyTimeout = d }(busyTimeout)
		busyTimeout = 200 * time.Millisecond
		release := holdWriteLock(t, path)
		// Opening a current database takes no write lock.
		s2, err := Open(path)
		if err != nil {
			t.Fatalf("Open while another process held the write lock: %v", err)
		}
		defer s2.Close()
		before := gen(t, s2)
		err = s2.CreateUser(ctx, meta.User{Name: "carol"})
		if !isBusy(err) {
			t.Fatalf("CreateUser beyond busyTimeout: %v, want SQLITE_BUSY", err)
		}
		if gen(t, s2) != before {
			t.Error("a failed write changed the generation")
		}
		release()
		if err := s2.CreateUser(ctx, meta.User{Name: "carol"}); err != nil {
			t.Fatalf("CreateUser after the other process committed: %v", err)
		}
		if _, err := s.User(ctx, "carol"); err != nil {
			t.Errorf("the first store does not see the second's user: %v", err)
		}
	})
}
