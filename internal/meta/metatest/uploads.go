package metatest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func newUpload(bucket, key, id string) meta.Upload {
	return meta.Upload{
		Bucket:    bucket,
		Key:       key,
		ID:        id,
		Initiated: when,
		Headers: meta.Headers{
			ContentType:  "application/x-nix-nar",
			CacheControl: "no-cache",
			UserMeta:     map[string]string{"a": "b"},
		},
		ChecksumAlgorithm: "CRC64NVME",
		ChecksumType:      "FULL_OBJECT",
	}
}

func mustCreateUpload(t *testing.T, s meta.Store, u meta.Upload) {
	t.Helper()
	if err := s.CreateUpload(t.Context(), u); err != nil {
		t.Fatalf("CreateUpload(%q): %v", u.ID, err)
	}
}

func newPart(n int) meta.Part {
	seg := newBlob(int64(5<<20 + n))
	return meta.Part{
		Number:   n,
		Size:     seg.Size,
		ETag:     fmt.Sprintf("%032x", n),
		Modified: when.Add(time.Duration(n) * time.Microsecond), // stores keep microseconds
		Checksum: fmt.Sprintf("crc-%d", n),
		Segment:  seg,
	}
}

// mustPutParts puts parts numbered 1..n and returns them.
func mustPutParts(t *testing.T, s meta.Store, u meta.Upload, n int) []meta.Part {
	t.Helper()
	var parts []meta.Part
	for i := 1; i <= n; i++ {
		p := newPart(i)
		g, err := s.PutPart(t.Context(), u.Bucket, u.Key, u.ID, p)
		if err != nil {
			t.Fatalf("PutPart(%d): %v", i, err)
		}
		checkGarbage(t, "new part", g)
		parts = append(parts, p)
	}
	return parts
}

func checkUpload(t *testing.T, got, want meta.Upload) {
	t.Helper()
	checkTime(t, "upload "+want.ID+" Initiated", got.Initiated, want.Initiated)
	got.Initiated, want.Initiated = time.Time{}, time.Time{}
	got.Headers, want.Headers = normHeaders(got.Headers), normHeaders(want.Headers)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upload:\n got %+v\nwant %+v", got, want)
	}
}

func checkParts(t *testing.T, what string, got, want []meta.Part) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d parts %+v, want %d %+v", what, len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		checkTime(t, fmt.Sprintf("%s: part %d Modified", what, w.Number), g.Modified, w.Modified)
		g.Modified, w.Modified = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: part %d:\n got %+v\nwant %+v", what, i, g, w)
		}
	}
}

// multipartObject returns the object completing u from parts.
func multipartObject(u meta.Upload, parts ...meta.Part) meta.Object {
	obj := meta.Object{Bucket: u.Bucket, Key: u.Key, ETag: fmt.Sprintf("deadbeef-%d", len(parts)),
		Modified: when, Headers: u.Headers, ChecksumAlgorithm: u.ChecksumAlgorithm, PartsCount: len(parts)}
	for _, p := range parts {
		obj.Size += p.Size
		obj.Segments = append(obj.Segments, p.Segment)
	}
	return obj
}

func testUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	u := newUpload("b", "dir/key", "u1")
	mustCreateUpload(t, s, u)

	got, err := s.Upload(ctx, "b", "dir/key", "u1")
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	checkUpload(t, got, u)

	for _, c := range []struct{ bucket, key, id string }{
		{"b", "dir/key", "u2"}, {"b", "other", "u1"}, {"b", "dir/key/", "u1"},
	} {
		_, err := s.Upload(ctx, c.bucket, c.key, c.id)
		wantErr(t, fmt.Sprintf("Upload(%q, %q, %q)", c.bucket, c.key, c.id), err, meta.ErrNoSuchUpload)
	}
	_, err = s.Upload(ctx, "nope", "dir/key", "u1")
	wantErr(t, "Upload in a missing bucket", err, meta.ErrNoSuchBucket)

	_, err = s.PutPart(ctx, "b", "dir/key", "u2", newPart(1))
	wantErr(t, "PutPart to a missing upload", err, meta.ErrNoSuchUpload)
	_, err = s.PutPart(ctx, "b", "other", "u1", newPart(1))
	wantErr(t, "PutPart under the wrong key", err, meta.ErrNoSuchUpload)
	_, err = s.Parts(ctx, "b", "dir/key", "u2", 0, 10)
	wantErr(t, "Parts of a missing upload", err, meta.ErrNoSuchUpload)
	_, err = s.AbortUpload(ctx, "b", "dir/key", "u2")
	wantErr(t, "AbortUpload of a missing upload", err, meta.ErrNoSuchUpload)
	_, err = s.CompleteUpload(ctx, "u2", multipartObject(u), nil)
	wantErr(t, "CompleteUpload of a missing upload", err, meta.ErrNoSuchUpload)
	other := multipartObject(u)
	other.Key = "other"
	_, err = s.CompleteUpload(ctx, "u1", other, nil)
	wantErr(t, "CompleteUpload under the wrong key", err, meta.ErrNoSuchUpload)

	// The upload is not an object.
	_, err = s.Object(ctx, "b", "dir/key")
	wantErr(t, "Object of an upload's key", err, meta.ErrNoSuchKey)
}

func testParts(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	u := newUpload("b", "k", "u1")
	mustCreateUpload(t, s, u)
	if ps, err := s.Parts(ctx, "b", "k", "u1", 0, 10); err != nil || len(ps) != 0 {
		t.Fatalf("Parts of a new upload = %v, %v; want none", ps, err)
	}
	// Out of order, with a gap, as clients may send them.
	parts := []meta.Part{newPart(3), newPart(1), newPart(10000), newPart(2)}
	for _, p := range parts {
		g, err := s.PutPart(ctx, "b", "k", "u1", p)
		if err != nil {
			t.Fatalf("PutPart(%d): %v", p.Number, err)
		}
		checkGarbage(t, "new part", g)
	}
	want := []meta.Part{parts[1], parts[3], parts[0], parts[2]}

	// Replacing a part returns the old one's segment.
	old := want[1]
	repl := newPart(2)
	g, err := s.PutPart(ctx, "b", "k", "u1", repl)
	if err != nil {
		t.Fatalf("PutPart replacing: %v", err)
	}
	checkGarbage(t, "replaced part", g, old.Segment)
	want[1] = repl

	all, err := s.Parts(ctx, "b", "k", "u1", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	checkParts(t, "all parts", all, want)
	for _, c := range []struct{ after, limit, from, to int }{
		{0, 2, 0, 2}, {2, 2, 2, 4}, {1, 1, 1, 2}, {3, 10, 3, 4}, {9999, 1, 3, 4}, {10000, 5, 4, 4},
	} {
		ps, err := s.Parts(ctx, "b", "k", "u1", c.after, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		checkParts(t, fmt.Sprintf("Parts(after %d, limit %d)", c.after, c.limit), ps, want[c.from:c.to])
	}
	checkReferenced(t, s, map[string]bool{old.Segment.Blob: false, repl.Segment.Blob: true})
}

func testCompleteUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	prev := newObject("b", "k")
	mustPut(t, s, prev)

	u := newUpload("b", "k", "u1")
	mustCreateUpload(t, s, u)
	parts := mustPutParts(t, s, u, 4)
	// Complete with parts 1, 2 and 4: part 3 is unused.
	obj := multipartObject(u, parts[0], parts[1], parts[3])
	g, err := s.CompleteUpload(ctx, "u1", obj, nil)
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	checkGarbage(t, "complete", g, parts[2].Segment, prev.Segments[0])
	checkObject(t, mustObject(t, s, "b", "k"), obj, true)

	_, err = s.Upload(ctx, "b", "k", "u1")
	wantErr(t, "Upload after completion", err, meta.ErrNoSuchUpload)
	_, err = s.Parts(ctx, "b", "k", "u1", 0, 10)
	wantErr(t, "Parts after completion", err, meta.ErrNoSuchUpload)
	_, err = s.CompleteUpload(ctx, "u1", obj, nil)
	wantErr(t, "second CompleteUpload", err, meta.ErrNoSuchUpload)
	checkReferenced(t, s, map[string]bool{
		parts[0].Segment.Blob: true, parts[1].Segment.Blob: true,
		parts[2].Segment.Blob: false, parts[3].Segment.Blob: true,
	})

	// Another upload of the same key replaces the multipart object.
	u2 := newUpload("b", "k", "u2")
	mustCreateUpload(t, s, u2)
	p := mustPutParts(t, s, u2, 1)
	g, err = s.CompleteUpload(ctx, "u2", multipartObject(u2, p...), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "complete over a multipart object", g, obj.Segments...)
}

func testCompleteUploadInvalid(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	u := newUpload("b", "k", "u1")
	mustCreateUpload(t, s, u)
	parts := mustPutParts(t, s, u, 2)
	stale := parts[1]
	fresh := newPart(2)
	if _, err := s.PutPart(ctx, "b", "k", "u1", fresh); err != nil {
		t.Fatal(err)
	}
	u2 := newUpload("b", "k", "u2")
	mustCreateUpload(t, s, u2)
	foreign := mustPutParts(t, s, u2, 1)[0]
	wrongSize := parts[0]
	wrongSize.Segment.Size++

	for _, c := range []struct {
		name  string
		parts []meta.Part
	}{
		{"stale segment", []meta.Part{parts[0], stale}},
		{"another upload's part", []meta.Part{parts[0], foreign}},
		{"unknown blob", []meta.Part{parts[0], {Segment: newBlob(1)}}},
		{"wrong size", []meta.Part{wrongSize, fresh}},
		{"part twice", []meta.Part{parts[0], parts[0], fresh}},
	} {
		g, err := s.CompleteUpload(ctx, "u1", multipartObject(u, c.parts...), nil)
		wantErr(t, "CompleteUpload with "+c.name, err, meta.ErrInvalidPart)
		checkGarbage(t, c.name, g)
	}
	// Nothing changed.
	_, err := s.Object(ctx, "b", "k")
	wantErr(t, "Object after failed completions", err, meta.ErrNoSuchKey)
	ps, err := s.Parts(ctx, "b", "k", "u1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkParts(t, "parts after failed completions", ps, []meta.Part{parts[0], fresh})

	obj := multipartObject(u, parts[0], fresh)
	if _, err := s.CompleteUpload(ctx, "u1", obj, nil); err != nil {
		t.Fatalf("CompleteUpload with the current parts: %v", err)
	}
	checkObject(t, mustObject(t, s, "b", "k"), obj, true)
}

func testCompleteUploadCheck(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	prev := newObject("b", "k")
	mustPut(t, s, prev)
	u := newUpload("b", "k", "u1")
	mustCreateUpload(t, s, u)
	parts := mustPutParts(t, s, u, 2)
	obj := multipartObject(u, parts...)

	g, err := s.CompleteUpload(ctx, "u1", obj, func(cur *meta.Object) error {
		if cur == nil {
			t.Error("check saw nil, want the current object")
		} else {
			checkObject(t, *cur, prev, true)
		}
		return errVeto
	})
	if err != errVeto {
		t.Fatalf("CompleteUpload with a failing check: error %v, want the check's error unchanged", err)
	}
	checkGarbage(t, "vetoed completion", g)
	checkObject(t, mustObject(t, s, "b", "k"), prev, true)
	ps, err := s.Parts(ctx, "b", "k", "u1", 0, 10)
	if err != nil {
		t.Fatalf("Parts after a vetoed completion: %v", err)
	}
	checkParts(t, "parts after a vetoed completion", ps, parts)

	g, err = s.CompleteUpload(ctx, "u1", obj, func(cur *meta.Object) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "completion", g, prev.Segments...)
}

func testAbortUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	u := newUpload("b", "k", "u1")
	mustCreateUpload(t, s, u)
	parts := mustPutParts(t, s, u, 3)
	keep := newUpload("b", "k", "u2")
	mustCreateUpload(t, s, keep)
	kept := mustPutParts(t, s, keep, 1)

	_, err := s.AbortUpload(ctx, "b", "other", "u1")
	wantErr(t, "AbortUpload under the wrong key", err, meta.ErrNoSuchUpload)
	g, err := s.AbortUpload(ctx, "b", "k", "u1")
	if err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	checkGarbage(t, "abort", g, parts[0].Segment, parts[1].Segment, parts[2].Segment)
	_, err = s.Upload(ctx, "b", "k", "u1")
	wantErr(t, "Upload after abort", err, meta.ErrNoSuchUpload)
	_, err = s.AbortUpload(ctx, "b", "k", "u1")
	wantErr(t, "second AbortUpload", err, meta.ErrNoSuchUpload)

	ps, err := s.Parts(ctx, "b", "k", "u2", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkParts(t, "the other upload's parts", ps, kept)
}

func testScanUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "other")
	mustCreateUpload(t, s, newUpload("other", "a", "x"))
	type ku struct{ key, id string }
	var all []ku
	// Upload IDs are unique in the store; within a key they sort by the
	// first two digits.
	for i, k := range []string{"b", "a/b", "a", "a b", "a!", "日本", "é"} {
		for _, n := range []string{"02", "01", "03"} {
			id := fmt.Sprintf("%s-%d", n, i)
			mustCreateUpload(t, s, newUpload("b", k, id))
			all = append(all, ku{k, id})
		}
	}
	slices.SortFunc(all, func(x, y ku) int {
		if x.key != y.key {
			if x.key < y.key {
				return -1
			}
			return 1
		}
		if x.id < y.id {
			return -1
		}
		if x.id > y.id {
			return 1
		}
		return 0
	})
	expect := func(prefix, after, afterID string) []ku {
		var out []ku
		for _, e := range all {
			if len(e.key) < len(prefix) || e.key[:len(prefix)] != prefix {
				continue
			}
			if e.key > after || (afterID != "" && e.key == after && e.id > afterID) {
				out = append(out, e)
			}
		}
		return out
	}
	list := func(q meta.ScanQuery) []ku {
		t.Helper()
		q.Bucket = "b"
		ups, err := s.ScanUploads(ctx, q)
		if err != nil {
			t.Fatalf("ScanUploads(%+v): %v", q, err)
		}
		out := make([]ku, len(ups))
		for i, u := range ups {
			out[i] = ku{u.Key, u.ID}
			checkUpload(t, u, newUpload("b", u.Key, u.ID))
		}
		return out
	}

	for _, c := range []struct{ prefix, after, afterID string }{
		{"", "", ""}, {"a", "", ""}, {"a/", "", ""}, {"", "a", ""}, {"", "a", "01-2"}, {"", "a", "03-2"},
		{"", "a b", "02-3"}, {"a", "a!", "01-4"}, {"", "é", "02-6"}, {"z", "", ""}, {"日", "a", "02-2"},
		{"", "a", "00"}, {"", "a", "99"},
		// Markers that are not UTF-8 (see notUTF8); multipart.go skips
		// every upload of a key marker with the ID marker "\xff".
		{"", "a", "\xff"}, {"", "a/\xff", ""}, {"", "a\xff", "\xff"}, {"", "\xc3", "01"}, {"a", "a\xc0", ""},
		{"\xc3", "", ""}, {"\xe6\x97", "", ""}, {"a\xff", "", ""},
	} {
		got := list(meta.ScanQuery{Prefix: c.prefix, After: c.after, AfterUploadID: c.afterID, Limit: 1000})
		if want := expect(c.prefix, c.after, c.afterID); !slices.Equal(got, want) {
			t.Errorf("ScanUploads(prefix %q, after %q/%q) = %v, want %v", c.prefix, c.after, c.afterID, got, want)
		}
	}

	// Paging with the (key, upload ID) markers visits each upload once.
	for _, limit := range []int{1, 2, 4} {
		var got []ku
		var q meta.ScanQuery
		for range len(all) + 1 {
			q.Limit = limit
			page := list(q)
			got = append(got, page...)
			if len(page) < limit {
				break
			}
			q.After, q.AfterUploadID = page[len(page)-1].key, page[len(page)-1].id
		}
		if !slices.Equal(got, all) {
			t.Errorf("pages of %d: %v, want %v", limit, got, all)
		}
	}
}
