package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// dbFiles returns the mode of meta.db and of each companion that exists.
func dbFiles(t *testing.T, path string) map[string]fs.FileMode {
	t.Helper()
	modes := map[string]fs.FileMode{}
	for _, suffix := range append([]string{""}, companions...) {
		fi, err := os.Stat(path + suffix)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		modes[filepath.Base(path+suffix)] = fi.Mode().Perm()
	}
	return modes
}

func wantPrivate(t *testing.T, path string) {
	t.Helper()
	modes := dbFiles(t, path)
	for _, name := range []string{"meta.db", "meta.db-wal", "meta.db-shm", "meta.db-gen"} {
		m, ok := modes[name]
		if !ok {
			t.Errorf("%s missing", name)
		} else if m != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, m)
		}
	}
}

// The database and its -wal, -shm and -gen files hold the admin secret and
// the signing keys: they are 0600 even under umask 0, and SQLite's files
// made after Open (the WAL on the first write) too.
func TestDatabaseFilesPrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutAccessKey(t.Context(), meta.AccessKey{ID: "AKIDPRIVATE", Secret: "secret", User: "root", Created: time.Now(), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, path)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantPrivate(t, path) // the WAL is kept, and still private
}

// A store made by an older version, or by hand, with files others can
// read is tightened when opened.
func TestOpenTightensLooseDatabaseFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name := range dbFiles(t, path) {
		if err := os.Chmod(filepath.Join(filepath.Dir(path), name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantPrivate(t, path)
}

// The WAL and its index outlive the last connection, so that a restart
// on a full disk needs no new space for them.
func TestWALKeptAtClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatalf("after Close: %v", err)
		}
		if suffix == "-wal" && fi.Size() == 0 {
			t.Errorf("%s was truncated at Close", suffix)
		}
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Bucket(t.Context(), "b"); err != nil {
		t.Fatalf("bucket after reopen: %v", err)
	}
}

// SQLite's "database or disk is full" is reported so that errors.Is finds
// syscall.ENOSPC, as for a blob write that ran out of space.
func TestDatabaseFullIsENOSPC(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	var pages int
	if err := s.w.db.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer's only connection may not grow the file any more.
	if _, err := s.w.db.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = s.CreateBucket(ctx, meta.Bucket{Name: fmt.Sprintf("bucket-%d-%0200d", i, i), Created: time.Now()})
	}
	if err == nil {
		t.Fatal("the database never filled up")
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v (%T) does not match syscall.ENOSPC", err, err)
	}
}
