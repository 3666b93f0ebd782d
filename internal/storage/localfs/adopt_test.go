package localfs

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAdopt: a finished file becomes a committed blob with the same bytes,
// the blobs' mode and a fresh commit time, and is gone from its path; a
// reader that had it open before keeps reading it.
func TestAdopt(t *testing.T) {
	dir := t.TempDir()
	b := open(t, filepath.Join(dir, "store"))
	src := filepath.Join(dir, "download")
	data := []byte("a NAR downloaded from upstream")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	follower, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	before := time.Now().Add(-time.Second)
	id, err := b.Adopt(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("the adopted file is still at its path: %v", err)
	}
	blob, err := b.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(blob)
	blob.Close()
	if err != nil || string(got) != string(data) {
		t.Errorf("blob holds %q, %v; want %q", got, err, data)
	}
	if got, err := io.ReadAll(follower); err != nil || string(got) != string(data) {
		t.Errorf("a reader of the file before the adoption read %q, %v", got, err)
	}
	fi, err := os.Stat(b.path(id))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode() & (fs.ModeType | fs.ModePerm); m != 0o600 {
		t.Errorf("mode %v, want 0600", m)
	}
	if c := walkIDs(t, b)[id]; c.Before(before) {
		t.Errorf("commit time %v, want the adoption's (after %v)", c, before)
	}
}

// TestAdoptMissing: a path that does not exist is an error and commits
// nothing.
func TestAdoptMissing(t *testing.T) {
	b := open(t, filepath.Join(t.TempDir(), "store"))
	if _, err := b.Adopt(t.Context(), filepath.Join(t.TempDir(), "nothing")); err == nil {
		t.Fatal("Adopt of a missing file succeeded")
	}
	if ids := walkIDs(t, b); len(ids) != 0 {
		t.Errorf("blobs after a failed Adopt: %v", ids)
	}
}
