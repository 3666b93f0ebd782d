package objects_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// scanCounter counts the rows the listings read from the store.
type scanCounter struct {
	meta.Store
	rows atomic.Int64
}

func (c *scanCounter) ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error) {
	got, err := c.Store.ScanObjects(ctx, q)
	c.rows.Add(int64(len(got)))
	return got, err
}

func (c *scanCounter) ScanUploads(ctx context.Context, q meta.ScanQuery) ([]meta.Upload, error) {
	got, err := c.Store.ScanUploads(ctx, q)
	c.rows.Add(int64(len(got)))
	return got, err
}

// TestListRollupReadsLittle: a listing with a delimiter over many common
// prefixes, each holding a few keys, reads about as many rows as the
// bucket holds, objects and multipart uploads alike. Before, it read a
// page's worth after each prefix and dropped all but the first: 200
// prefixes of 2 keys read 40,000 rows for one page (and 1,000 prefixes,
// 500,000: seconds of CPU per request for anyone allowed s3:ListBucket).
func TestListRollupReadsLittle(t *testing.T) {
	var sc *scanCounter
	s := newServiceOver(t, func(m meta.Store) meta.Store { sc = &scanCounter{Store: m}; return sc })
	ctx := context.Background()
	const prefixes, keys = 200, 400
	for i := range keys {
		key := fmt.Sprintf("d/p%03d/k%d", i/2, i%2)
		put(t, s, key, []byte("x"))
		if _, err := s.CreateUpload(ctx, bucket, key, meta.Headers{}, "", ""); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, "d/flat", []byte("x"))

	sc.rows.Store(0)
	out, err := s.List(ctx, objects.ListInput{Bucket: bucket, Prefix: "d/", Delimiter: "/", MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CommonPrefixes) != prefixes || len(out.Objects) != 1 || out.Truncated {
		t.Fatalf("%d prefixes, %d objects, truncated %v; want %d, 1, false", len(out.CommonPrefixes), len(out.Objects), out.Truncated, prefixes)
	}
	if n := sc.rows.Load(); n > 10*keys {
		t.Errorf("ListObjects read %d rows to roll %d keys up into %d prefixes", n, keys, prefixes)
	}

	sc.rows.Store(0)
	up, err := s.Uploads(ctx, objects.UploadsInput{Bucket: bucket, Prefix: "d/", Delimiter: "/", MaxUploads: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.CommonPrefixes) != prefixes || len(up.Uploads) != 0 || up.Truncated {
		t.Fatalf("%d prefixes, %d uploads, truncated %v; want %d, 0, false", len(up.CommonPrefixes), len(up.Uploads), up.Truncated, prefixes)
	}
	if n := sc.rows.Load(); n > 10*keys {
		t.Errorf("ListMultipartUploads read %d rows to roll %d uploads up into %d prefixes", n, keys, prefixes)
	}

	// A flat listing after the rollups still gets every key, paged.
	var seen int
	after := ""
	for {
		page, err := s.List(ctx, objects.ListInput{Bucket: bucket, Prefix: "d/p1", Delimiter: "#", After: after, MaxKeys: 37})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page.Objects)
		if !page.Truncated {
			break
		}
		after = page.Last
	}
	if seen != 200 {
		t.Errorf("paged flat listing of d/p1 saw %d keys, want 200", seen)
	}
}
