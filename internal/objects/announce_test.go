package objects_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// TestAnnouncedWritesReachTheMemo runs a server's Service (memo on,
// following the store's generation) and an admin command's (another store instance, as another process) on one
// data directory: once the admin deletes a narinfo the server had
// remembered and announces it, the server answers it missing.
func TestAnnouncedWritesReachTheMemo(t *testing.T) {
	dir := t.TempDir()
	open := func() (*sqlite.Store, *localfs.Backend) {
		blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { blobs.Close() })
		store, err := sqlite.Open(filepath.Join(dir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		return store, blobs
	}
	ctx := context.Background()
	sm, sb := open()
	server := &objects.Service{Meta: sm, Blobs: sb}
	if err := server.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	am, ab := open()
	admin := &objects.Service{Meta: am, Blobs: ab, NoMemo: true}

	put(t, server, "k.narinfo", []byte("StorePath: …"))
	read(t, server, "k.narinfo") // remembered
	if err := admin.Delete(ctx, bucket, "k.narinfo", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Head(ctx, bucket, "k.narinfo"); err != nil {
		t.Logf("before the announcement the server already answers %v", err)
	}
	if err := am.SetSetting(ctx, "deletes-announce", time.Now().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Head(ctx, bucket, "k.narinfo"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("Head after the admin's announced delete: %v, want ErrNoSuchKey", err)
	}
}
