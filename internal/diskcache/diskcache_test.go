package diskcache

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var quiet = slog.New(slog.DiscardHandler)

// put reserves, writes size bytes into a temp file and commits it as name.
func put(t *testing.T, c *Cache, name string, size int) error {
	t.Helper()
	r, err := c.Reserve(name, int64(size))
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.TempDir(), "fetch-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Repeat(name[:1], size)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	held, err := r.Commit(f.Name())
	if err == nil {
		held.Close()
	}
	return err
}

func mustPut(t *testing.T, c *Cache, name string, size int) {
	t.Helper()
	if err := put(t, c, name, size); err != nil {
		t.Fatalf("put %s (%d bytes): %v", name, size, err)
	}
}

// names lists the entries on disk, sorted.
func names(t *testing.T, c *Cache) []string {
	t.Helper()
	des, err := os.ReadDir(c.nars)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// dirBytes is the bytes of every file under dir: what du would count.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

func get(t *testing.T, c *Cache, name string) *File {
	t.Helper()
	f, ok, err := c.Get(name)
	if err != nil || !ok {
		t.Fatalf("Get %s: ok %v, err %v", name, ok, err)
	}
	return f
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c, err := Open(t.TempDir(), 100, quiet)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "a.nar", 30)
	mustPut(t, c, "b.nar", 30)
	mustPut(t, c, "c.nar", 30)
	get(t, c, "a.nar").Close() // a is now more recent than b and c
	mustPut(t, c, "d.nar", 30) // needs 20 more bytes: b goes
	if got, want := names(t, c), []string{"a.nar", "c.nar", "d.nar"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	mustPut(t, c, "e.nar", 60) // needs 50: c, then a go
	if got, want := names(t, c), []string{"d.nar", "e.nar"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	if c.Size() != 90 {
		t.Fatalf("Size %d, want 90", c.Size())
	}
	f := get(t, c, "e.nar")
	defer f.Close()
	b, _ := io.ReadAll(f)
	if string(b) != strings.Repeat("e", 60) {
		t.Fatalf("e.nar holds %q", b)
	}
}

func TestOpenEntriesAreNotEvicted(t *testing.T) {
	c, err := Open(t.TempDir(), 100, quiet)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "a.nar", 50)
	mustPut(t, c, "b.nar", 50)
	fa := get(t, c, "a.nar")
	fb := get(t, c, "b.nar")
	if err := put(t, c, "c.nar", 10); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("put with every entry open: %v, want ErrNoRoom", err)
	}
	fb.Close() // b is free now, a (older) still open
	mustPut(t, c, "c.nar", 10)
	if got, want := names(t, c), []string{"a.nar", "c.nar"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v (a open, b evicted)", got, want)
	}
	if b, _ := io.ReadAll(fa); len(b) != 50 {
		t.Fatalf("the open a.nar reads %d bytes", len(b))
	}
	fa.Close()
}

func TestReservationsCount(t *testing.T) {
	c, err := Open(t.TempDir(), 100, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reserve("big.nar", 101); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("reserve above the bound: %v, want ErrNoRoom", err)
	}
	r1, err := c.Reserve("x.nar", 70)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reserve("y.nar", 40); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("reserve past a reservation in flight: %v, want ErrNoRoom", err)
	}
	r1.Cancel()
	r1.Cancel() // twice is harmless
	if c.Size() != 0 {
		t.Fatalf("Size after cancel %d, want 0", c.Size())
	}
	r2, err := c.Reserve("y.nar", 40)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.TempDir(), "short")
	os.WriteFile(tmp, []byte("short"), 0o644)
	if _, err := r2.Commit(tmp); err == nil {
		t.Fatal("commit of a file shorter than reserved succeeded")
	}
	if c.Size() != 0 || len(names(t, c)) != 0 {
		t.Fatalf("after a refused commit: Size %d, entries %v", c.Size(), names(t, c))
	}
	if _, err := c.Reserve("../x", 1); err == nil {
		t.Fatal("a path was accepted as an entry name")
	}
}

// TestReopen: the order of use survives a restart (from atimes), a crash's
// temps are swept, foreign files are not entries, and a smaller bound
// evicts at start.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 100, quiet)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "a.nar", 20)
	mustPut(t, c, "b.nar", 20)
	mustPut(t, c, "c.nar", 20)
	// Spread the times: a used last, then c, then b.
	base := time.Now().Add(-time.Hour)
	for i, n := range []string{"b.nar", "c.nar", "a.nar"} {
		at := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(filepath.Join(dir, "nar", n), at, base.Add(-time.Hour))
	}
	os.WriteFile(filepath.Join(dir, "tmp", "fetch-123"), []byte("torn"), 0o644)
	os.WriteFile(filepath.Join(dir, "nar", ".hidden"), []byte("x"), 0o644)

	c2, err := Open(dir, 45, quiet) // room for two: b, the least recent, goes
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, c2), []string{".hidden", "a.nar", "c.nar"}; !slices.Equal(got, want) {
		t.Fatalf("entries after reopen %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp", "fetch-123")); !os.IsNotExist(err) {
		t.Fatalf("a crash's temp survived Open: %v", err)
	}
	if c2.Size() != 40 {
		t.Fatalf("Size %d, want 40", c2.Size())
	}
	get(t, c2, "c.nar").Close() // now c is the most recent; a goes next
	mustPut(t, c2, "d.nar", 20)
	if got, want := names(t, c2), []string{".hidden", "c.nar", "d.nar"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

// TestBoundHolds drives random puts, gets and held readers and checks the
// directory never holds more than the bound (temps included).
func TestBoundHolds(t *testing.T) {
	dir := t.TempDir()
	const max = 1000
	c, err := Open(dir, max, quiet)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var held []*File
	for i := range 300 {
		name := fmt.Sprintf("n%d.nar", rng.IntN(40))
		switch rng.IntN(3) {
		case 0, 1:
			if err := put(t, c, name, 1+rng.IntN(300)); err != nil && !errors.Is(err, ErrNoRoom) {
				t.Fatal(err)
			}
		case 2:
			if f, ok, _ := c.Get(name); ok {
				held = append(held, f)
			}
		}
		if len(held) > 3 {
			held[0].Close()
			held = held[1:]
		}
		if n := dirBytes(t, dir); n > max {
			t.Fatalf("step %d: %d bytes on disk, bound %d", i, n, max)
		}
		if n := dirBytes(t, dir); n != c.Size() {
			t.Fatalf("step %d: %d bytes on disk, Size says %d", i, n, c.Size())
		}
	}
	for _, f := range held {
		f.Close()
	}
}

// TestCommitHoldsTheEntry: the file Commit returns keeps its entry from
// eviction until it is closed.
func TestCommitHoldsTheEntry(t *testing.T) {
	c, err := Open(t.TempDir(), 100, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Reserve("a.nar", 60)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.TempDir(), "fetch")
	os.WriteFile(tmp, []byte(strings.Repeat("a", 60)), 0o644)
	held, err := r.Commit(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := put(t, c, "b.nar", 60); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("put while the committed entry is held: %v, want ErrNoRoom", err)
	}
	held.Close()
	mustPut(t, c, "b.nar", 60)
	if got, want := names(t, c), []string{"b.nar"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

func TestRemove(t *testing.T) {
	c, err := OpenWith(t.TempDir(), 100, quiet, Options{Entries: "blobs", What: "blob cache"})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "a", 40)
	mustPut(t, c, "b", 40)
	held := get(t, c, "a")
	if err := c.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("never"); err != nil {
		t.Fatalf("Remove of a missing entry: %v", err)
	}
	if _, ok, _ := c.Get("a"); ok {
		t.Fatal("a removed, still found")
	}
	if got, want := names(t, c), []string{"b"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	// A reader that held it reads on; closing it changes nothing counted.
	if b, _ := io.ReadAll(held); len(b) != 40 {
		t.Fatalf("the held file reads %d bytes", len(b))
	}
	held.Close()
	if c.Size() != 40 {
		t.Fatalf("Size %d, want 40", c.Size())
	}
	mustPut(t, c, "c", 60) // fits beside b: a's room was given back
	if got, want := names(t, c), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

func TestChangedSizeIsDropped(t *testing.T) {
	c, err := OpenWith(t.TempDir(), 100, quiet, Options{Entries: "blobs", What: "blob cache"})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "a", 40)
	mustPut(t, c, "b", 40)
	if err := os.Truncate(filepath.Join(c.dir, "blobs", "a"), 10); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "blobs", "b"), make([]byte, 50), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if f, ok, err := c.Get(name); ok || err != nil {
			f.Close()
			t.Fatalf("Get %s of a changed size: ok %v, err %v; want a miss", name, ok, err)
		}
	}
	if got := names(t, c); len(got) != 0 {
		t.Fatalf("entries %v left, want none", got)
	}
	if st := c.Stats(); st.Bytes != 0 || st.Entries != 0 || st.Misses != 2 || st.Hits != 0 || st.Commits != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDirectoriesPrivate: the entries and temps are the owner's alone
// (a blob cache holds private buckets' bytes), also under a directory
// other users may list.
func TestDirectoriesPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := OpenWith(dir, 100, quiet, Options{Entries: "blobs", What: "blob cache"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, "blobs"), c.TempDir()} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, perm)
		}
	}
}

// TestHitsDoNotWaitForACommitsSync: while a commit's directory fsync is
// in progress (held here), hits on other entries are answered, and the
// committing entry itself is already a hit.
func TestHitsDoNotWaitForACommitsSync(t *testing.T) {
	c, err := Open(t.TempDir(), 1000, quiet)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, c, "a.nar", 10)
	syncing, release := make(chan struct{}), make(chan struct{})
	real := syncDir
	syncDir = func(dir string) {
		close(syncing)
		<-release
		real(dir)
	}
	t.Cleanup(func() { syncDir = real })
	done := make(chan error, 1)
	go func() { done <- put(t, c, "b.nar", 10) }()
	<-syncing
	for _, name := range []string{"a.nar", "b.nar"} {
		got := make(chan bool, 1)
		go func() {
			f, ok, _ := c.Get(name)
			if ok {
				f.Close()
			}
			got <- ok
		}()
		select {
		case ok := <-got:
			if !ok {
				t.Errorf("Get %s during the sync: a miss", name)
			}
		case <-time.After(10 * time.Second): // a deadlock guard, not a timing check
			t.Fatalf("Get %s waited for the commit's directory sync", name)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
