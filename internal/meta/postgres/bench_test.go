package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// BenchmarkPutObject is one new object with one blob segment, as a PUT
// through a node on S3 blobs commits it: its latency is the metadata
// transaction's, round trips included.
func BenchmarkPutObject(b *testing.B) {
	s := openAt(b, testenv.Postgres(b))
	ctx := b.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "bench", Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		obj := meta.Object{Bucket: "bench", Key: fmt.Sprintf("obj/%d", i), Size: 1 << 20, ETag: "0123456789abcdef0123456789abcdef",
			Modified: time.Now(), Segments: []meta.Segment{{Blob: fmt.Sprintf("blob-%d", i), Size: 1 << 20}}}
		if _, err := s.PutObject(ctx, obj, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeleteObject deletes objects of one blob segment each, as
// garbage collection and lifecycle expiry do one after another.
func BenchmarkDeleteObject(b *testing.B) {
	s := openAt(b, testenv.Postgres(b))
	ctx := b.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "bench", Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	const n = 2000
	for i := range n {
		obj := meta.Object{Bucket: "bench", Key: fmt.Sprintf("obj/%d", i), Size: 1 << 20, ETag: "0123456789abcdef0123456789abcdef",
			Modified: time.Now(), Segments: []meta.Segment{{Blob: fmt.Sprintf("blob-%d", i), Size: 1 << 20}}}
		if _, err := s.PutObject(ctx, obj, nil); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if i == n {
			b.Fatalf("more than %d iterations: make more objects", n)
		}
		garbage, err := s.DeleteObject(ctx, "bench", fmt.Sprintf("obj/%d", i), nil)
		if err != nil || len(garbage) != 1 {
			b.Fatalf("delete obj/%d: %v garbage, %v", i, garbage, err)
		}
		i++
	}
}
