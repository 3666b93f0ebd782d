package localfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/storage"
	"github.com/nixbucket/nixbucket/internal/storage/storagetest"
)

func open(t *testing.T, root string) *Backend {
	t.Helper()
	b, err := Open(root)
	if err != nil {
		t.Fatalf("Open(%s): %v", root, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func put(t *testing.T, b *Backend, data string) string {
	t.Helper()
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := w.Write([]byte(data)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	id, err := w.Commit(t.Context())
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return id
}

func walkIDs(t *testing.T, b *Backend) map[string]time.Time {
	t.Helper()
	ids := make(map[string]time.Time)
	if err := b.Walk(t.Context(), func(id string, c time.Time) error {
		ids[id] = c
		return nil
	}); err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return ids
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return open(t, filepath.Join(t.TempDir(), "blobs"))
	})
}

func TestLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	b := open(t, root)
	id := put(t, b, "hello")
	if !validID(id) {
		t.Fatalf("Commit returned %q, want 32 lowercase hex digits", id)
	}
	got, err := os.ReadFile(filepath.Join(root, "blobs", id[:2], id))
	if err != nil || string(got) != "hello" {
		t.Fatalf("committed file = %q, %v; want %q", got, err, "hello")
	}
	if left, _ := os.ReadDir(filepath.Join(root, "tmp")); len(left) != 0 {
		t.Errorf("tmp/ holds %d entries after Commit, want 0", len(left))
	}
	fanout, _ := os.ReadDir(filepath.Join(root, "blobs"))
	if len(fanout) != 256 {
		t.Errorf("blobs/ holds %d entries, want the 256 fan-out directories", len(fanout))
	}
}

// TestSweepOnReopen simulates a crash: writers that neither committed nor
// aborted leave files in tmp/, which the next Open removes.
func TestSweepOnReopen(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	b := open(t, root)
	if n := b.SweptTemps(); n != 0 {
		t.Errorf("SweptTemps on a new root = %d, want 0", n)
	}
	kept := put(t, b, "committed")
	for range 2 {
		w, err := b.Create(t.Context())
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		w.Write([]byte("interrupted"))
		// Neither Commit nor Abort: the process "crashes" here.
	}
	tmp := filepath.Join(root, "tmp")
	if err := os.WriteFile(filepath.Join(tmp, "stray"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "dir", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}

	b2 := open(t, root)
	// The interrupted writers wrote in tmp/ or, when a spare was ready, in
	// a spare file in place; Open sweeps the former, Walk the latter.
	if n := b2.SweptTemps(); n < 2 || n > 4 {
		t.Errorf("SweptTemps after crash = %d, want 2 to 4", n)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("tmp/ holds %d entries after reopen, want 0", len(left))
	}
	ids := walkIDs(t, b2)
	if _, ok := ids[kept]; !ok || len(ids) != 1 {
		t.Errorf("Walk after reopen = %v, want only %s", ids, kept)
	}
	if b3 := open(t, root); b3.SweptTemps() != 0 {
		t.Errorf("SweptTemps on a clean reopen = %d, want 0", b3.SweptTemps())
	}
}

// TestPathEscape tries IDs that name files outside blobs/, or files in it
// that are not in the ID format.
func TestPathEscape(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "store")
	b := open(t, root)
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A file where an upper-case "ID" would map to: not our format.
	upper := strings.Repeat("AB", 16)
	if err := os.MkdirAll(filepath.Join(root, "blobs", "AB"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "blobs", "AB", upper), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tmpName := put(t, b, "x") // any valid ID: also try it as a tmp/ name
	ids := []string{
		"../secret",
		"../../secret",
		secret,
		"../../../" + strings.TrimPrefix(secret, "/"),
		"..",
		".",
		"",
		upper,
		"0123456789abcdef0123456789abcde/",
		"0123456789abcdef0123456789abcdef/..",
		"../tmp/" + tmpName,
		"0123456789abcdef0123456789abcdef0", // too long
		"0123456789abcdef0123456789abcde",   // too short
		" 123456789abcdef0123456789abcdef",
		"0123456789abcdef\x00123456789abcdef",
	}
	for _, id := range ids {
		blob, err := b.Open(t.Context(), id)
		if err == nil {
			blob.Close()
			t.Errorf("Open(%q) succeeded", id)
		} else if !storage.IsNotExist(err) {
			t.Errorf("Open(%q) = %v, want IsNotExist", id, err)
		}
		if err := b.Delete(t.Context(), id); err == nil {
			t.Errorf("Delete(%q) succeeded, want an invalid-ID error", id)
		}
	}
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("file outside the root is gone: %v", err)
	}
}

func TestFileModes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "store")
	b := open(t, root)
	id := put(t, b, "mode")
	// A writer that finds a spare ready writes in place; with the spares
	// closed (Close removes the unused ones) the next one goes to tmp/.
	b.spares.wg.Wait()
	spareID, ok := b.takeSpare()
	if !ok {
		t.Fatal("no spare ready after a refill")
	}
	b.spares.ready = append(b.spares.ready, spareID)
	inPlace, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer inPlace.Abort()
	b.Close()
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	temps, _ := filepath.Glob(filepath.Join(root, "tmp", "*"))
	if len(temps) != 1 {
		t.Fatalf("tmp/ holds %v, want one file", temps)
	}
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{root, fs.ModeDir | 0o700},
		{filepath.Join(root, "tmp"), fs.ModeDir | 0o700},
		{filepath.Join(root, "blobs"), fs.ModeDir | 0o700},
		{filepath.Join(root, "blobs", id[:2]), fs.ModeDir | 0o700},
		{filepath.Join(root, "blobs", "00"), fs.ModeDir | 0o700},
		{filepath.Join(root, "blobs", "ff"), fs.ModeDir | 0o700},
		{filepath.Join(root, "blobs", id[:2], id), 0o600},
		{temps[0], 0o600},
		{b.path(spareID), spareMode}, // hidden from Walk and Open until committed
	}
	for _, tt := range tests {
		fi, err := os.Stat(tt.path)
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if got := fi.Mode() & (fs.ModeType | fs.ModePerm); got != tt.want {
			t.Errorf("%s: mode %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestWalkSkipsForeign checks that files in blobs/ which are not where
// their name says, or are not blobs at all, are not reported.
func TestWalkSkipsForeign(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	id := put(t, b, "real")
	other := "ff" + id[2:]
	if other == id {
		other = "ee" + id[2:]
	}
	blobs := filepath.Join(root, "blobs")
	foreign := []string{
		filepath.Join(blobs, "README"),
		filepath.Join(blobs, id[:2], "stray"),
		filepath.Join(blobs, id[:2], strings.ToUpper(id)),
		filepath.Join(blobs, id[:2], other),      // valid ID, wrong directory
		filepath.Join(blobs, id[:2], "x", other), // too deep
		filepath.Join(blobs, "zz", strings.Repeat("zz", 16)),
		filepath.Join(blobs, "0", strings.Repeat("0", 32)),
	}
	for _, p := range foreign {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(blobs, id[:2], id[:2]+strings.Repeat("0", 30)), 0o700); err != nil {
		t.Fatal(err)
	}
	ids := walkIDs(t, b)
	if _, ok := ids[id]; !ok || len(ids) != 1 {
		t.Errorf("Walk = %v, want only %s", ids, id)
	}
}

// TestCommitTime checks that Walk reports when Commit ran, not when the
// bytes were last written.
func TestCommitTime(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("slow writer"))
	w.(*writer).flush()
	old := time.Now().Add(-48 * time.Hour)
	temps, _ := filepath.Glob(filepath.Join(root, "tmp", "*"))
	if len(temps) != 1 {
		t.Fatalf("tmp/ holds %v, want one file", temps)
	}
	if err := os.Chtimes(temps[0], old, old); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	id, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c := walkIDs(t, b)[id]; c.Before(before.Add(-time.Second)) {
		t.Errorf("Walk reported commit time %v, want after %v", c, before)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tmpIsFile := filepath.Join(dir, "tmpfile")
	if err := os.MkdirAll(tmpIsFile, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmpIsFile, "tmp"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{file, filepath.Join(file, "sub"), tmpIsFile} {
		if _, err := Open(root); err == nil {
			t.Errorf("Open(%s) succeeded", root)
		}
	}
}

// TestCommitFailure makes the rename fail and checks that Commit cleans up
// and Abort stays safe.
func TestCommitFailure(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("doomed"))
	// A file where the fan-out directory belongs makes the rename fail.
	id := w.(*writer).id
	dir := filepath.Join(root, "blobs", id[:2])
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(t.Context()); err == nil {
		t.Fatal("Commit succeeded with its fan-out directory blocked")
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after failed Commit: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "tmp")); len(left) != 0 {
		t.Errorf("tmp/ holds %d entries after failed Commit, want 0", len(left))
	}
	if _, err := b.Open(t.Context(), id); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Open after failed Commit = %v, want not exist", err)
	}
}

// TestFanoutRemoved removes a fan-out directory behind the backend's back:
// Commit recreates it, and so does the next Open.
func TestFanoutRemoved(t *testing.T) {
	root := t.TempDir()
	b := open(t, root)
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("data"))
	id := w.(*writer).id
	// RemoveAll: spares being made may already sit in the directory.
	if err := os.RemoveAll(filepath.Join(root, "blobs", id[:2])); err != nil {
		t.Fatal(err)
	}
	if got, err := w.Commit(t.Context()); err != nil || got != id {
		t.Fatalf("Commit = %q, %v; want %q", got, err, id)
	}
	if _, ok := walkIDs(t, b)[id]; !ok {
		t.Errorf("Walk does not report %s", id)
	}
	other := "ff" // spares fill 00, 01, ... first
	if id[:2] == other {
		other = "fe"
	}
	if err := os.Remove(filepath.Join(root, "blobs", other)); err != nil {
		t.Fatal(err)
	}
	open(t, root)
	if fi, err := os.Stat(filepath.Join(root, "blobs", other)); err != nil || !fi.IsDir() {
		t.Errorf("Open did not recreate blobs/%s: %v", other, err)
	}
}

// TestOpenSharedLeavesUploads: an admin command opening the store beside
// a running server must not sweep the server's uploads in progress.
func TestOpenSharedLeavesUploads(t *testing.T) {
	root := t.TempDir()
	b, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() }) // before TempDir's removal: its spare maker stops
	w, err := b.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("in flight")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenShared(root); err != nil {
		t.Fatal(err)
	}
	id, err := w.Commit(t.Context())
	if err != nil {
		t.Fatalf("an upload in progress failed after OpenShared: %v", err)
	}
	bl, err := b.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	bl.Close()
	if _, err := OpenShared(filepath.Join(root, "missing")); err == nil {
		t.Error("OpenShared of a missing store succeeded")
	}
}
