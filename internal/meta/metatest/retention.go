package metatest

import (
	"reflect"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func testRetention(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if meta.DefaultRetention != (meta.Retention{Grace: time.Hour}) {
		t.Errorf("DefaultRetention = %+v, want GC off with an hour's grace", meta.DefaultRetention)
	}
	_, err := s.Retention(ctx, "missing")
	wantErr(t, "Retention(missing)", err, meta.ErrNoSuchBucket)
	err = s.SetRetention(ctx, "missing", meta.Retention{GC: true})
	wantErr(t, "SetRetention(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	check := func(bucket string, want meta.Retention) {
		t.Helper()
		got, err := s.Retention(ctx, bucket)
		if err != nil {
			t.Fatalf("Retention(%q): %v", bucket, err)
		}
		if got != want {
			t.Errorf("Retention(%q) = %+v, want %+v", bucket, got, want)
		}
	}
	check("b", meta.DefaultRetention)
	for _, r := range []meta.Retention{
		{KeepDays: 30, MaxSize: 200 << 30, GC: true, Grace: 2 * time.Hour},
		{}, // zero values are values, not "unset"
		{MaxSize: 1<<62 + 1, Grace: time.Nanosecond},
		{KeepDays: 1, GC: false, Grace: time.Hour},
	} {
		if err := s.SetRetention(ctx, "b", r); err != nil {
			t.Fatalf("SetRetention(%+v): %v", r, err)
		}
		check("b", r)
		check("c", meta.DefaultRetention)
	}
	// DeleteBucket forgets it: a new bucket of that name starts afresh.
	if err := s.DeleteBucket(ctx, "b"); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	mustCreateBucket(t, s, "b")
	check("b", meta.DefaultRetention)
}

func testScanNarinfoEdges(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.ScanNarinfoEdges(ctx, "missing", "", 10)
	wantErr(t, "ScanNarinfoEdges(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	if got, err := s.ScanNarinfoEdges(ctx, "b", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("ScanNarinfoEdges(empty) = %v, %v; want none", got, err)
	}
	var recs []meta.Narinfo
	for i := range 25 {
		recs = append(recs, newNarinfo(nixHash(24-i), i)) // stored out of hash order
	}
	putAll(t, s, "b", recs)
	other := newNarinfo(nixHash(500), 1)
	mustPut(t, s, narinfoObject("c", other.Hash, &other))

	byHash := map[string]meta.Narinfo{}
	for _, r := range recs {
		byHash[r.Hash] = r
	}
	var got []meta.NarinfoEdge
	after := ""
	for pages := 0; ; pages++ {
		page, err := s.ScanNarinfoEdges(ctx, "b", after, 7)
		if err != nil {
			t.Fatalf("ScanNarinfoEdges(after %q): %v", after, err)
		}
		if len(page) > 7 {
			t.Fatalf("ScanNarinfoEdges(limit 7) returned %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Hash
		if pages > 10 {
			t.Fatal("ScanNarinfoEdges does not end")
		}
	}
	if len(got) != len(recs) {
		t.Fatalf("scanned %d records, want %d", len(got), len(recs))
	}
	for i, e := range got {
		if i > 0 && got[i-1].Hash >= e.Hash {
			t.Errorf("record %d: hash %q after %q, want hash order", i, e.Hash, got[i-1].Hash)
		}
		r, ok := byHash[e.Hash]
		if !ok {
			t.Fatalf("scanned %q, not in bucket b", e.Hash)
		}
		want := meta.NarinfoEdge{Hash: r.Hash, URL: r.URL, Deriver: r.Deriver, FileSize: r.FileSize,
			Created: r.Created.UTC(), LastAccess: r.LastAccess.UTC(), References: r.References}
		if !e.Created.Equal(want.Created) || !e.LastAccess.Equal(want.LastAccess) {
			t.Errorf("record %q times = %v, %v; want %v, %v", e.Hash, e.Created, e.LastAccess, want.Created, want.LastAccess)
		}
		e.Created, e.LastAccess = want.Created, want.LastAccess
		if !reflect.DeepEqual(e, want) {
			t.Errorf("record %q = %+v, want %+v", e.Hash, e, want)
		}
	}
	// A deleted narinfo leaves the scan.
	if _, err := s.DeleteObject(ctx, "b", recs[3].Hash+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	page, err := s.ScanNarinfoEdges(ctx, "b", "", 100)
	if err != nil || len(page) != len(recs)-1 {
		t.Fatalf("after a delete: %d records, %v; want %d", len(page), err, len(recs)-1)
	}
}
