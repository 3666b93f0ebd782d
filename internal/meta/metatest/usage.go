package metatest

import (
	"reflect"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func checkUsage(t *testing.T, s meta.Store, want []meta.Usage) {
	t.Helper()
	got, err := s.Usage(t.Context())
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Usage:\n got %+v\nwant %+v", got, want)
	}
}

// testUsage: every bucket summed, empty ones included, in name order;
// overwrites, deletes, completed and aborted uploads move the sums.
func testUsage(t *testing.T, s meta.Store) {
	ctx := t.Context()
	checkUsage(t, s, nil)
	mustCreateBucket(t, s, "c")
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "empty")
	checkUsage(t, s, []meta.Usage{{Bucket: "b"}, {Bucket: "c"}, {Bucket: "empty"}})

	b := meta.Usage{Bucket: "b"}
	for i := range 3 {
		rec := newNarinfo(nixHash(i), i)
		obj := narinfoObject("b", rec.Hash, &rec)
		mustPut(t, s, obj)
		b.Objects++
		b.Bytes += obj.Size
		b.Paths++
	}
	nar := newObject("b", "nar/x.nar")
	nar.Size = 3 << 32 // sums beyond 32 bits
	mustPut(t, s, nar)
	b.Objects++
	b.Bytes += nar.Size
	unindexed := narinfoObject("b", nixHash(50), nil)
	mustPut(t, s, unindexed)
	b.Objects++
	b.Bytes += unindexed.Size
	c := meta.Usage{Bucket: "c"}
	cobj := newObject("c", "k")
	mustPut(t, s, cobj)
	c.Objects, c.Bytes = 1, cobj.Size
	checkUsage(t, s, []meta.Usage{b, c, {Bucket: "empty"}})

	// An overwrite replaces the size; a delete removes the object and its
	// narinfo record.
	nar.Size = 7
	mustPut(t, s, nar)
	b.Bytes += 7 - 3<<32
	if _, err := s.DeleteObject(ctx, "b", nixHash(0)+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	rec0 := newNarinfo(nixHash(0), 0)
	b.Objects--
	b.Bytes -= narinfoObject("b", rec0.Hash, &rec0).Size
	b.Paths--
	checkUsage(t, s, []meta.Usage{b, c, {Bucket: "empty"}})

	// Uploads in progress count until aborted.
	mustCreateUpload(t, s, newUpload("c", "big", "u1"))
	mustCreateUpload(t, s, newUpload("c", "big", "u2"))
	mustCreateUpload(t, s, newUpload("empty", "x", "u3"))
	c.Uploads = 2
	checkUsage(t, s, []meta.Usage{b, c, {Bucket: "empty", Uploads: 1}})
	if _, err := s.AbortUpload(ctx, "c", "big", "u1"); err != nil {
		t.Fatal(err)
	}
	c.Uploads = 1
	checkUsage(t, s, []meta.Usage{b, c, {Bucket: "empty", Uploads: 1}})
}
