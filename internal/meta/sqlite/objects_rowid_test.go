package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// bigParts is how many parts bigObject has: a 5 GiB NAR uploaded in
// parts of 5 MiB.
const bigParts = 1024

// bigObject is a multipart object of bigParts blobs: its segments list
// takes about 40 KB, ten overflow pages.
func bigObject(bucket, key string) meta.Object {
	segs := make([]meta.Segment, bigParts)
	for i := range segs {
		segs[i] = meta.Segment{Blob: fmt.Sprintf("%032x", i), Size: 5 << 20}
	}
	return meta.Object{
		Bucket: bucket, Key: key, Size: bigParts * 5 << 20,
		ETag: "0123456789abcdef0123456789abcdef-1024", Modified: time.Unix(1700000000, 0),
		Headers:  meta.Headers{ContentType: "application/x-nix-nar", UserMeta: map[string]string{"uploader": "ci"}},
		Segments: segs,
	}
}

// smallObject is a narinfo whose 600 bytes are kept inline: its row fits
// in a page.
func smallObject(bucket, key string) meta.Object {
	return meta.Object{
		Bucket: bucket, Key: key, Size: 600,
		ETag: "0123456789abcdef0123456789abcdef", Modified: time.Unix(1700000000, 0),
		Headers:  meta.Headers{ContentType: "text/x-nix-narinfo"},
		Segments: []meta.Segment{{Size: 600, Data: bytes.Repeat([]byte("n"), 600)}},
	}
}

// putAll stores objs in one transaction, so that setting up does not cost
// an fsync each.
func putAll(tb testing.TB, s *Store, objs func(yield func(meta.Object) bool)) {
	tb.Helper()
	err := s.write(context.Background(), func(t *txn) error {
		for obj := range objs {
			if err := t.putObject(obj, nil, &garbage{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkObjectLookupAmongBigRows looks up and lists objects in a bucket
// where every other object is a multipart NAR of 1,024 parts (bucket
// "mixed", 2,000 objects), and lists a bucket of 10,000 small objects
// (bucket "small") as the peer a listing must not fall behind. Hit and
// Miss look up small and absent keys among the big rows; List and
// ListPrefix read one ListObjectsV2 page (1,001 keys), without and with a
// prefix.
func BenchmarkObjectLookupAmongBigRows(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	for _, name := range []string{"mixed", "small"} {
		if err := s.CreateBucket(ctx, meta.Bucket{Name: name, Created: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	const mixed, small = 2000, 10000
	putAll(b, s, func(yield func(meta.Object) bool) {
		for i := range mixed {
			obj := smallObject("mixed", fmt.Sprintf("%06d", i))
			if i%2 == 0 {
				obj = bigObject("mixed", fmt.Sprintf("%06d", i))
			}
			if !yield(obj) {
				return
			}
		}
		for i := range small {
			if !yield(smallObject("small", fmt.Sprintf("%06d", i))) {
				return
			}
		}
	})
	b.Run("Hit", func(b *testing.B) {
		reportCPU(b)
		for i := 0; b.Loop(); i++ {
			if _, err := s.Object(ctx, "mixed", fmt.Sprintf("%06d", (i*2+1)%mixed)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Miss", func(b *testing.B) {
		reportCPU(b)
		for i := 0; b.Loop(); i++ {
			if _, err := s.Object(ctx, "mixed", fmt.Sprintf("%06d-absent", i%mixed)); err == nil {
				b.Fatal("found an absent key")
			}
		}
	})
	list := func(bucket, prefix string) func(b *testing.B) {
		return func(b *testing.B) {
			reportCPU(b)
			for b.Loop() {
				objs, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: bucket, Prefix: prefix, After: "000100", Limit: 1001})
				if err != nil || len(objs) != 1001 || !strings.HasPrefix(objs[0].Key, prefix) {
					b.Fatalf("ScanObjects(%s) = %d objects, %v", bucket, len(objs), err)
				}
			}
		}
	}
	b.Run("List", list("mixed", ""))
	b.Run("ListPrefix", list("mixed", "00"))
	b.Run("ListSmall", list("small", ""))
	b.Run("ListSmallPrefix", list("small", "00"))
}
