package objects_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// countingStore counts the object queries that reach the store.
type countingStore struct {
	meta.Store
	queries atomic.Int64
}

func (c *countingStore) Object(ctx context.Context, bucket, key string) (meta.Object, error) {
	c.queries.Add(1)
	return c.Store.Object(ctx, bucket, key)
}

func newCountingService(t *testing.T) (*objects.Service, *countingStore) {
	t.Helper()
	var cs *countingStore
	s := newServiceOver(t, func(m meta.Store) meta.Store {
		cs = &countingStore{Store: m}
		return cs
	})
	return s, cs
}

func waitFilter(t *testing.T, s *objects.Service, bucket string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !s.FilterReady(bucket) {
		if time.Now().After(deadline) {
			t.Fatal("the filter of absent keys never became ready")
		}
		s.Head(context.Background(), bucket, "trigger-a-build")
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAbsentKeysFromMemory: once a bucket's filter is built, unique
// misses cost no query, and every stored key is still found.
func TestAbsentKeysFromMemory(t *testing.T) {
	s, cs := newCountingService(t)
	ctx := context.Background()
	for i := range 300 {
		put(t, s, fmt.Sprintf("k%03d.narinfo", i), []byte("x"))
	}
	waitFilter(t, s, bucket)
	before := cs.queries.Load()
	for i := range 2000 {
		_, err := s.Head(ctx, bucket, fmt.Sprintf("missing-%d.narinfo", i))
		if !errors.Is(err, meta.ErrNoSuchKey) {
			t.Fatalf("missing key: %v, want ErrNoSuchKey", err)
		}
	}
	if q := cs.queries.Load() - before; q > 40 {
		t.Errorf("2000 unique misses made %d queries; the filter should answer all but ~1%%", q)
	}
	for i := range 300 {
		if _, err := s.Head(ctx, bucket, fmt.Sprintf("k%03d.narinfo", i)); err != nil {
			t.Fatalf("stored key: %v", err)
		}
	}
	// A key written after the filter was built is found at once.
	put(t, s, "late.narinfo", []byte("y"))
	if _, err := s.Head(ctx, bucket, "late.narinfo"); err != nil {
		t.Fatalf("key written after the build: %v", err)
	}
	// A deleted bucket says so, not NoSuchKey.
	for i := range 300 {
		if err := s.Delete(ctx, bucket, fmt.Sprintf("k%03d.narinfo", i), objects.Conditions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, bucket, "late.narinfo", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx, bucket, "missing-1.narinfo"); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("deleted bucket: %v, want ErrNoSuchBucket", err)
	}
}

// TestAbsentReadYourWrites writes new keys and reads each back at once,
// while other goroutines keep asking for missing keys and tiny filters
// fill up and are rebuilt: a written key must never read as missing.
func TestAbsentReadYourWrites(t *testing.T) {
	defer objects.SetMinFilterBits(1024)() // capacity ~100 adds: many rebuilds
	s, _ := newCountingService(t)
	ctx := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				s.Head(ctx, bucket, fmt.Sprintf("absent-%d-%d", g, i))
			}
		})
	}
	var failures atomic.Int64
	var writers sync.WaitGroup
	for g := range 4 {
		writers.Go(func() {
			for i := range 150 {
				key := fmt.Sprintf("w%d-%d.narinfo", g, i)
				put(t, s, key, []byte(key))
				if _, err := s.Head(ctx, bucket, key); err != nil {
					failures.Add(1)
					t.Errorf("%s right after its write: %v", key, err)
				}
			}
		})
	}
	writers.Wait()
	stop.Store(true)
	wg.Wait()
	// And all of them, once more, through whatever filter is current.
	for g := range 4 {
		for i := range 150 {
			if _, err := s.Head(ctx, bucket, fmt.Sprintf("w%d-%d.narinfo", g, i)); err != nil {
				t.Errorf("w%d-%d: %v", g, i, err)
			}
		}
	}
}
