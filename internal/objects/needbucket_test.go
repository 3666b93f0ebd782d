package objects_test

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// bucketCountingStore counts the bucket lookups that reach the store.
type bucketCountingStore struct {
	meta.Store
	lookups atomic.Int64
}

func (c *bucketCountingStore) Bucket(ctx context.Context, name string) (meta.Bucket, error) {
	c.lookups.Add(1)
	return c.Store.Bucket(ctx, name)
}

// TestPutAsksForItsBucketOnce: a bucket seen to exist is not looked up
// again by later writes while no bucket came or went; one deleted behind
// the Service's back (another server, the CLI) still fails the write with
// NoSuchBucket, leaving nothing; and one created again is written to.
func TestPutAsksForItsBucketOnce(t *testing.T) {
	var cs *bucketCountingStore
	s := newServiceOver(t, func(m meta.Store) meta.Store {
		cs = &bucketCountingStore{Store: m}
		return cs
	})
	ctx := t.Context()
	put(t, s, "first", []byte("x"))
	before := cs.lookups.Load()
	for _, k := range []string{"a", "b", "c", "d"} {
		put(t, s, k, []byte("y"))
	}
	if n := cs.lookups.Load() - before; n != 0 {
		t.Errorf("4 puts to a known bucket looked it up %d times, want 0", n)
	}

	// Emptied and deleted straight in the store, as another server would.
	for _, k := range []string{"first", "a", "b", "c", "d"} {
		if _, err := cs.Store.DeleteObject(ctx, bucket, k, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.Store.DeleteBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	_, err := s.Put(ctx, objects.PutInput{Bucket: bucket, Key: "late", Body: bytes.NewReader([]byte("z")), Size: 1})
	if !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Fatalf("a put into a bucket deleted elsewhere: %v, want ErrNoSuchBucket", err)
	}
	if _, err := s.Meta.Object(ctx, bucket, "late"); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("the refused put left something: %v", err)
	}
	if err := s.Delete(ctx, bucket, "late", objects.Conditions{}); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("a delete in a bucket deleted elsewhere: %v, want ErrNoSuchBucket", err)
	}

	if err := s.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	put(t, s, "again", []byte("w"))
	if err := s.DeleteBucket(ctx, bucket); err == nil || !errors.Is(err, meta.ErrBucketNotEmpty) {
		t.Fatalf("delete of a bucket holding an object: %v", err)
	}
}

// TestPutAfterDeleteBucket: once the Service deleted a bucket, a put
// into it fails at once, without writing its body.
func TestPutAfterDeleteBucket(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	put(t, s, "k", []byte("x"))
	if err := s.Delete(ctx, bucket, "k", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	body := &countingReader{r: bytes.NewReader([]byte("body"))}
	_, err := s.Put(ctx, objects.PutInput{Bucket: bucket, Key: "k", Body: body, Size: 4})
	if !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Fatalf("a put into a deleted bucket: %v, want ErrNoSuchBucket", err)
	}
	if body.n != 0 {
		t.Errorf("the put read %d bytes of its body before failing", body.n)
	}
}
