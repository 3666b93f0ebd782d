package objects_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/postgres"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// TestWatchAcrossStores runs two Services on two instances of one
// PostgreSQL store, as two servers would, the reader with its memo and
// filters of absent keys on (Watch): every write through the writer is
// seen by the reader as soon as it returned, whatever the reader
// remembered, hit or miss. A Service that ignores the changes (no Watch,
// no NoMemo) serves stale answers, which shows that the memo was in use.
// The bucket's Version (what the console keeps a bucket's graph under)
// moves on the reader with each write.
func TestWatchAcrossStores(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	blobs, err := localfs.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	ws, rs := open(), open()
	writer := &objects.Service{Meta: ws, Blobs: blobs, Watch: ws, Changes: ws}
	reader := &objects.Service{Meta: rs, Blobs: blobs, Watch: rs, Changes: rs}
	blind := &objects.Service{Meta: rs, Blobs: blobs}
	if err := writer.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, ok := rs.ObjectMark(bucket); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader's store never vouched for its changes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	missing := func(s *objects.Service, key string) bool {
		_, err := s.Head(ctx, bucket, key)
		if err != nil && !errors.Is(err, meta.ErrNoSuchKey) {
			t.Fatal(err)
		}
		return err != nil
	}
	// Misses build the bucket's filter of absent keys in the background;
	// ask until it answers (a miss then costs no query, which the
	// writes below must still get past).
	for i := range 200 {
		missing(reader, fmt.Sprintf("warm%d.narinfo", i))
		time.Sleep(time.Millisecond)
	}
	stale := 0
	for i := range 100 {
		key := fmt.Sprintf("k%d.narinfo", i)
		for _, s := range []*objects.Service{reader, blind} {
			if !missing(s, key) {
				t.Fatalf("%s exists before the write", key)
			}
		}
		for _, body := range []string{"one", "two"} {
			before, ok := reader.BucketVersion(ctx, bucket)
			if !ok {
				t.Fatal("the reader cannot vouch for the bucket's Version")
			}
			put(t, writer, key, []byte(body+key))
			if after, _ := reader.BucketVersion(ctx, bucket); after == before {
				t.Fatalf("the bucket's Version on the reader stayed %v after the writer put %s", after, key)
			}
			if got := string(read(t, reader, key)); got != body+key {
				t.Fatalf("after the writer put %q, the reader read %q", body+key, got)
			}
			if _, r, err := blind.Get(ctx, bucket, key); err != nil {
				stale++
			} else {
				r.Close()
			}
		}
		if err := writer.Delete(ctx, bucket, key, objects.Conditions{}); err != nil {
			t.Fatal(err)
		}
		if !missing(reader, key) {
			t.Fatalf("after the writer deleted %s, the reader still has it", key)
		}
		if !missing(blind, key) {
			stale++
		}
	}
	if stale == 0 {
		t.Error("the Service without Watch never answered stale: the test no longer shows the memo in use")
	}
	t.Logf("stale answers without Watch: %d", stale)
}
