package backend

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// TestDataDir: the store of a data directory is DATA/meta.db, created by
// Open, required by OpenExisting, and not shared with other servers.
func TestDataDir(t *testing.T) {
	data := t.TempDir()
	if _, err := OpenExisting(data, ""); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenExisting of an empty directory: %v, want fs.ErrNotExist", err)
	}
	s, err := Open(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	if SharedObjects(s) {
		t.Error("SharedObjects of the data directory's SQLite store: true, want false")
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(data, "meta.db")); err != nil {
		t.Fatal(err)
	}
	s, err = OpenExisting(data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Bucket(t.Context(), "b"); err != nil {
		t.Errorf("bucket made before reopening: %v", err)
	}
	if !SharedObjects(struct{ meta.Store }{s}) {
		t.Error("SharedObjects of a store backend did not open: false, want true")
	}
}
