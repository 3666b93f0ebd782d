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

// TestMemoSeesAnnouncedDeletes: a server's memo drops a small object that
// another process (nixbucket gc) deleted once that process announced the
// change, and without Changes it would go on serving it.
func TestMemoSeesAnnouncedDeletes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	open := func() *sqlite.Store {
		s, err := sqlite.Open(filepath.Join(dir, "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	serverStore, gcStore := open(), open()
	server := &objects.Service{Meta: serverStore, Blobs: blobs, Changes: serverStore}
	stale := &objects.Service{Meta: serverStore, Blobs: blobs} // no announcements heard
	gc := &objects.Service{Meta: gcStore, Blobs: blobs, NoMemo: true}
	if err := server.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	put(t, server, "x.narinfo", []byte("StorePath: x"))
	for _, s := range []*objects.Service{server, stale} {
		if _, err := s.Head(ctx, bucket, "x.narinfo"); err != nil { // remembered now
			t.Fatal(err)
		}
	}
	if err := gc.Delete(ctx, bucket, "x.narinfo", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := gcStore.SetSetting(ctx, "gc-announce", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Head(ctx, bucket, "x.narinfo"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("after an announced delete, Head = %v, want NoSuchKey", err)
	}
	if _, err := stale.Head(ctx, bucket, "x.narinfo"); err != nil {
		t.Logf("without Changes the memo answered %v (the test no longer shows the difference)", err)
	}
}

// TestDeleteUnmodifiedSince: the collector's delete refuses an object
// written after the time it gives, in the delete's own transaction.
func TestDeleteUnmodifiedSince(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	o := put(t, s, "nar/x.nar", []byte("nar"))
	err := s.Delete(ctx, bucket, "nar/x.nar", objects.Conditions{UnmodifiedSince: o.Modified.Add(-time.Second)})
	if !errors.Is(err, meta.ErrPreconditionFailed) {
		t.Fatalf("delete of an object written after UnmodifiedSince: %v, want ErrPreconditionFailed", err)
	}
	if _, err := s.Head(ctx, bucket, "nar/x.nar"); err != nil {
		t.Fatalf("the refused delete removed the object: %v", err)
	}
	if err := s.Delete(ctx, bucket, "nar/x.nar", objects.Conditions{UnmodifiedSince: o.Modified}); err != nil {
		t.Fatalf("delete of an object written at UnmodifiedSince: %v", err)
	}
	if _, err := s.Head(ctx, bucket, "nar/x.nar"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("after the delete: %v, want NoSuchKey", err)
	}
}
