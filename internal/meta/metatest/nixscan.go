package metatest

import (
	"reflect"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// testScanNarinfoRecords pages through a bucket's index with
// ScanNarinfos: every record once, whole, in hash order, none of another
// bucket's, and a deleted one gone.
func testScanNarinfoRecords(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.ScanNarinfos(ctx, "missing", "", 10)
	wantErr(t, "ScanNarinfos(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	if got, err := s.ScanNarinfos(ctx, "b", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("ScanNarinfos(empty bucket) = %v, %v; want none", got, err)
	}
	var recs []meta.Narinfo
	for i := range 23 {
		recs = append(recs, newNarinfo(nixHash(22-i), i)) // put out of hash order
	}
	putAll(t, s, "b", recs)
	other := newNarinfo(nixHash(7), 99) // same hash as one of b's
	mustPut(t, s, narinfoObject("c", other.Hash, &other))

	byHash := map[string]meta.Narinfo{}
	for _, r := range recs {
		byHash[r.Hash] = r
	}
	scan := func(limit int) []meta.Narinfo {
		t.Helper()
		var all []meta.Narinfo
		after := ""
		for pages := 0; ; pages++ {
			page, err := s.ScanNarinfos(ctx, "b", after, limit)
			if err != nil {
				t.Fatalf("ScanNarinfos(after %q, limit %d): %v", after, limit, err)
			}
			if len(page) > max(limit, 1) {
				t.Fatalf("ScanNarinfos(limit %d) returned %d", limit, len(page))
			}
			if len(page) == 0 {
				return all
			}
			all = append(all, page...)
			after = page[len(page)-1].Hash
			if pages > 100 {
				t.Fatal("ScanNarinfos does not end")
			}
		}
	}
	for _, limit := range []int{0, 1, 5, 23, 1000} {
		got := scan(limit)
		if len(got) != len(recs) {
			t.Fatalf("limit %d: scanned %d records, want %d", limit, len(got), len(recs))
		}
		for i, n := range got {
			if i > 0 && got[i-1].Hash >= n.Hash {
				t.Errorf("limit %d: record %d: hash %q after %q, want hash order", limit, i, n.Hash, got[i-1].Hash)
			}
			want, ok := byHash[n.Hash]
			if !ok {
				t.Fatalf("scanned %q, not one of bucket b's", n.Hash)
			}
			if n.Bucket != "b" {
				t.Errorf("record %q: Bucket %q, want b", n.Hash, n.Bucket)
			}
			if limit == 5 { // once is enough for the field by field check
				checkNarinfo(t, s, "b", n.Hash, &n)
				w := want
				checkNarinfo(t, s, "b", n.Hash, &w)
			}
		}
	}
	if _, err := s.DeleteObject(ctx, "b", recs[3].Hash+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	got := scan(1000)
	if len(got) != len(recs)-1 {
		t.Fatalf("after a delete: %d records, want %d", len(got), len(recs)-1)
	}
	for _, n := range got {
		if n.Hash == recs[3].Hash {
			t.Errorf("deleted narinfo %q still scanned", n.Hash)
		}
	}
}

// testNarinfosBatch looks records up by the batch with Narinfos: those
// the bucket holds, each as Narinfo gives it, none of another bucket's,
// nothing for hashes it lacks, a malformed one or a missing bucket.
func testNarinfosBatch(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if got, err := s.Narinfos(ctx, "missing", []string{nixHash(1)}); err != nil || len(got) != 0 {
		t.Fatalf("Narinfos(missing bucket) = %v, %v; want none", got, err)
	}
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	var recs []meta.Narinfo
	for i := range 30 {
		recs = append(recs, newNarinfo(nixHash(i), i))
	}
	putAll(t, s, "b", recs)
	other := newNarinfo(nixHash(100), 100) // only in c
	mustPut(t, s, narinfoObject("c", other.Hash, &other))

	if got, err := s.Narinfos(ctx, "b", nil); err != nil || len(got) != 0 {
		t.Fatalf("Narinfos(no hashes) = %v, %v; want none", got, err)
	}
	var ask []string
	for i := 0; i < 30; i += 3 {
		ask = append(ask, nixHash(i))
	}
	ask = append(ask, other.Hash, nixHash(5000), "not a hash'; --", nixHash(3)) // nixHash(3) twice
	got, err := s.Narinfos(ctx, "b", ask)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range got {
		if seen[n.Hash] {
			t.Errorf("record %q given twice", n.Hash)
		}
		seen[n.Hash] = true
		one, err := s.Narinfo(ctx, "b", n.Hash)
		if err != nil {
			t.Fatalf("Narinfos gave %q, which Narinfo does not: %v", n.Hash, err)
		}
		if !reflect.DeepEqual(n, one) {
			t.Errorf("Narinfos gave\n%+v\nNarinfo gives\n%+v", n, one)
		}
	}
	if len(seen) != 10 {
		t.Errorf("Narinfos gave %d records, want the 10 of bucket b asked for", len(seen))
	}
}
