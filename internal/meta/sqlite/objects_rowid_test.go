package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
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

// objectRaw is an objects row as stored.
type objectRaw struct {
	bucket, key, etag     string
	size, modified        int64
	attrs, segments, tags []byte
}

// rawObject encodes obj as putObject stores it.
func rawObject(obj meta.Object) objectRaw {
	return objectRaw{obj.Bucket, obj.Key, obj.ETag, obj.Size, nanos(obj.Modified),
		metaenc.EncodeAttrs(&obj), metaenc.EncodeSegments(obj.Segments), metaenc.EncodeTags(obj.Tags)}
}

func (r objectRaw) equal(o objectRaw) bool {
	return r.bucket == o.bucket && r.key == o.key && r.etag == o.etag && r.size == o.size && r.modified == o.modified &&
		bytes.Equal(r.attrs, o.attrs) && bytes.Equal(r.segments, o.segments) && bytes.Equal(r.tags, o.tags)
}

// TestMigrateObjectsRowid upgrades a database of schema 13, whose objects
// table kept whole rows in its key's b-tree (WITHOUT ROWID), to one whose
// key is an index of its own with a covering index for listings: every
// row, a multipart object of 1,024 parts with 2 KB of user metadata and
// tags among them, is read back byte for byte and through the Store, and
// lookups and listings use the indexes meant for them.
func TestMigrateObjectsRowid(t *testing.T) {
	ctx := t.Context()
	big := bigObject("b", "nar/big.nar")
	big.Headers.UserMeta["notes"] = strings.Repeat("m", 2000)
	big.Tags = []meta.Tag{{Key: "pin", Value: "release"}}
	inline := smallObject("b", "inline")
	inline.Segments = []meta.Segment{{Size: 16 << 10, Data: bytes.Repeat([]byte("i"), 16<<10)}}
	inline.Size = 16 << 10
	objs := []meta.Object{big, inline, smallObject("other", "x")}
	for i := range 40 {
		objs = append(objs, smallObject("b", fmt.Sprintf("k/%03d", i)))
	}
	var want []objectRaw
	stmts := []string{"INSERT INTO buckets (name, created) VALUES ('b', 1), ('other', 1), ('empty', 1)"}
	for _, obj := range objs {
		r := rawObject(obj)
		want = append(want, r)
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO objects (bucket, key, size, etag, modified, attrs, segments, tags)
			VALUES ('%s', '%s', %d, '%s', %d, x'%x', x'%x', x'%x')`,
			r.bucket, r.key, r.size, r.etag, r.modified, r.attrs, r.segments, r.tags))
	}
	s := openFromVersion(t, 13, stmts...)

	rows, err := s.r.db.QueryContext(ctx, `SELECT bucket, key, etag, size, modified, attrs, segments, tags FROM objects`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]objectRaw{}
	for rows.Next() {
		var r objectRaw
		if err := rows.Scan(&r.bucket, &r.key, &r.etag, &r.size, &r.modified, &r.attrs, &r.segments, &r.tags); err != nil {
			t.Fatal(err)
		}
		got[r.bucket+"/"+r.key] = r
	}
	rows.Close()
	if len(got) != len(want) {
		t.Errorf("%d objects after migrating, want %d", len(got), len(want))
	}
	for _, w := range want {
		if g := got[w.bucket+"/"+w.key]; !g.equal(w) {
			t.Errorf("object %s/%s after migrating differs: %d segment bytes, %d attrs bytes, %d tags bytes; want %d, %d, %d",
				w.bucket, w.key, len(g.segments), len(g.attrs), len(g.tags), len(w.segments), len(w.attrs), len(w.tags))
		}
	}

	o, err := s.Object(ctx, "b", big.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Segments, big.Segments) || !reflect.DeepEqual(o.Headers, big.Headers) ||
		!reflect.DeepEqual(o.Tags, big.Tags) || o.Size != big.Size || !o.Modified.Equal(big.Modified) {
		t.Errorf("Object(%s) after migrating: %d segments, headers %v, tags %v, size %d", big.Key, len(o.Segments), len(o.Headers.UserMeta), o.Tags, o.Size)
	}
	if _, err := s.Object(ctx, "b", "k/absent"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("Object(absent) = %v, want ErrNoSuchKey", err)
	}
	listed, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range listed {
		keys = append(keys, o.Key)
		if o.Key == big.Key && (!reflect.DeepEqual(o.Headers, big.Headers) || o.ETag != big.ETag || o.Size != big.Size) {
			t.Errorf("ScanObjects lists %s with headers %v, etag %q, size %d", o.Key, len(o.Headers.UserMeta), o.ETag, o.Size)
		}
	}
	if len(keys) != len(objs)-1 || !slices.IsSorted(keys) {
		t.Errorf("ScanObjects(b) after migrating = %q, want %d keys in order", keys, len(objs)-1)
	}
	var rowid int64
	if err := s.r.db.QueryRowContext(ctx, "SELECT rowid FROM objects LIMIT 1").Scan(&rowid); err != nil {
		t.Errorf("objects has no rowid after migrating: %v", err)
	}
	checkObjectPlans(t, s)
}

// checkObjectPlans checks that a lookup finds the row through the primary
// key, and that listings and sums read the covering index objects_list
// alone, in key order.
func checkObjectPlans(t *testing.T, s *Store) {
	t.Helper()
	for _, c := range []struct {
		name, query, index string
		args               []any
	}{
		{"Object", qObject, "USING INDEX sqlite_autoindex_objects_1 (bucket=? AND key=?)", []any{"b", "k"}},
		{"DeleteObject", qDeleteObject, "USING INDEX sqlite_autoindex_objects_1 (bucket=? AND key=?)", []any{"b", "k"}},
		{"SetObjectTags", qSetTags, "USING INDEX sqlite_autoindex_objects_1 (bucket=? AND key=?)", []any{"b", "k", nil}},
		{"ScanObjects", qScanObjects, "USING COVERING INDEX objects_list (bucket=? AND key>? AND key<?)", []any{"b", "a", "b", 10}},
		{"ScanObjects open", qScanObjectsOpen, "USING COVERING INDEX objects_list (bucket=? AND key>?)", []any{"b", "a", 10}},
		{"BucketHasObjects", qBucketHasObj, "USING COVERING INDEX", []any{"b"}},
		{"Usage", qUsage, "SCAN objects USING COVERING INDEX objects_list", nil},
	} {
		plan := queryPlan(t, s, c.query, c.args...)
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, c.index) || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want %q and no sort", c.name, all, c.index)
		}
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
