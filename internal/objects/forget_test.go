package objects_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// useBucket creates a bucket and gives it what the Service keeps per
// bucket: an object, a ready filter of absent keys, a Version counter.
func useBucket(t *testing.T, s *objects.Service, name string) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, objects.PutInput{Bucket: name, Key: "k", Body: strings.NewReader("x"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	waitFilter(t, s, name)
	s.BucketVersion(ctx, name)
}

// TestDeletedBucketsForgotten: buckets that come and go leave nothing in
// memory, whether this Service deleted them or another process did
// (ForgetGone, which the server calls with each usage refresh).
func TestDeletedBucketsForgotten(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	for i := range 5 {
		name := fmt.Sprintf("gone-%d", i)
		useBucket(t, s, name)
		if err := s.Delete(ctx, name, "k", objects.Conditions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteBucket(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// A delete in a bucket that never existed.
	if err := s.Delete(ctx, "never-was", "k", objects.Conditions{}); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Fatalf("delete in a missing bucket: %v", err)
	}
	if got := s.Tracked(); slices.ContainsFunc(got, func(b string) bool { return b != bucket && b != "never-was" }) {
		t.Errorf("after DeleteBucket the Service still keeps state of %v", got)
	}

	// Deleted by another process: the store alone knows.
	useBucket(t, s, "cli-deleted")
	if _, err := s.Meta.DeleteObject(ctx, "cli-deleted", "k", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Meta.DeleteBucket(ctx, "cli-deleted"); err != nil {
		t.Fatal(err)
	}
	s.ForgetGone(func(b string) bool { return b == bucket })
	if got, want := s.Tracked(), []string{bucket}; !slices.Equal(got, want) && len(got) != 0 {
		t.Errorf("after ForgetGone the Service keeps state of %v, want at most %v", got, want)
	}
	// The bucket that exists still answers from its filter once rebuilt.
	put(t, s, "kept", []byte("x"))
	waitFilter(t, s, bucket)
	if _, err := s.Head(ctx, bucket, "kept"); err != nil {
		t.Errorf("a key of the bucket kept: %v", err)
	}
}

// TestVersionAfterRecreate: a bucket deleted and created again, then
// written as often as before, has a Version unequal to the old one.
// The store is seen without its generation, which would tell the two
// apart by itself.
func TestVersionAfterRecreate(t *testing.T) {
	s := newServiceOver(t, func(m meta.Store) meta.Store { return noGeneration{m} })
	ctx := context.Background()
	useBucket(t, s, "again")
	before, ok := s.BucketVersion(ctx, "again")
	if !ok {
		t.Fatal("no Version")
	}
	if _, err := s.Meta.DeleteObject(ctx, "again", "k", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Meta.DeleteBucket(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	s.ForgetGone(func(b string) bool { return b == bucket })
	if err := s.Meta.CreateBucket(ctx, meta.Bucket{Name: "again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, objects.PutInput{Bucket: "again", Key: "other", Body: strings.NewReader("x"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	after, ok := s.BucketVersion(ctx, "again")
	if !ok {
		t.Fatal("no Version")
	}
	if after == before {
		t.Errorf("the Version of the bucket made again equals the old bucket's: %+v", after)
	}
}

// noGeneration is a store whose generation never moves.
type noGeneration struct{ meta.Store }

func (noGeneration) Generation(context.Context) (uint64, error) { return 0, nil }
