package metatest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// nixHash returns the i-th of a series of distinct store path hashes: 32
// characters of Nix's base-32 alphabet.
func nixHash(i int) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	b := []byte("0aaf7mhrfqigdmdfd2m9wkpz00000000")
	for k := len(b) - 1; k >= len(b)-8; k-- {
		b[k] = alphabet[i%32]
		i /= 32
	}
	return string(b)
}

// newNarinfo returns a record for hash with every field set; n varies the
// values.
func newNarinfo(hash string, n int) meta.Narinfo {
	name := fmt.Sprintf("%s-hello-2.12.%d", hash, n)
	return meta.Narinfo{
		Hash:        hash,
		StorePath:   "/nix/store/" + name,
		URL:         fmt.Sprintf("nar/%052d.nar.zst", n),
		Compression: "zstd",
		FileHash:    fmt.Sprintf("sha256:%052d", n),
		FileSize:    int64(1000 + n),
		NarHash:     fmt.Sprintf("sha256:%052d", n+1),
		NarSize:     int64(5000 + 10*n),
		References:  []string{name, nixHash(n+1000) + "-glibc-2.40", nixHash(n+2000) + "-é ünïcode"},
		Deriver:     nixHash(n+3000) + "-hello-2.12.drv",
		Sigs:        []string{fmt.Sprintf("cache.example.org-1:sig%d==", n), "other key:AAAA"},
		CA:          fmt.Sprintf("fixed:r:sha256:%052d", n),
		Created:     when.Add(time.Duration(n) * time.Second),
		LastAccess:  when.Add(time.Duration(n) * time.Minute),
	}
}

// narinfoObject returns the object <hash>.narinfo carrying rec (none if nil).
func narinfoObject(bucket, hash string, rec *meta.Narinfo) meta.Object {
	obj := newObject(bucket, hash+".narinfo")
	obj.Headers = meta.Headers{ContentType: "text/x-nix-narinfo"}
	obj.Narinfo = rec
	return obj
}

// checkNarinfo fails unless bucket's record for hash equals want (with
// Bucket and Hash set), or is missing when want is nil.
func checkNarinfo(t *testing.T, s meta.Store, bucket, hash string, want *meta.Narinfo) {
	t.Helper()
	got, err := s.Narinfo(t.Context(), bucket, hash)
	if want == nil {
		wantErr(t, fmt.Sprintf("Narinfo(%q, %q)", bucket, hash), err, meta.ErrNoSuchKey)
		return
	}
	if err != nil {
		t.Fatalf("Narinfo(%q, %q): %v", bucket, hash, err)
	}
	w := *want
	w.Bucket, w.Hash = bucket, hash
	checkTime(t, "narinfo "+hash+" Created", got.Created, w.Created)
	checkTime(t, "narinfo "+hash+" LastAccess", got.LastAccess, w.LastAccess)
	got.Created, w.Created = time.Time{}, time.Time{}
	got.LastAccess, w.LastAccess = time.Time{}, time.Time{}
	for _, l := range []*[]string{&got.References, &w.References, &got.Sigs, &w.Sigs} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("Narinfo(%q, %q):\n got %+v\nwant %+v", bucket, hash, got, w)
	}
}

func checkStats(t *testing.T, s meta.Store, bucket string, want meta.CacheStats) {
	t.Helper()
	got, err := s.CacheStats(t.Context(), bucket)
	if err != nil {
		t.Fatalf("CacheStats(%q): %v", bucket, err)
	}
	if got != want {
		t.Errorf("CacheStats(%q) = %+v, want %+v", bucket, got, want)
	}
}

// testNarinfoIndex follows one key through puts, overwrites and a delete.
func testNarinfoIndex(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	h := nixHash(1)
	checkNarinfo(t, s, "b", h, nil)
	checkNarinfo(t, s, "missing", h, nil)

	steps := []struct {
		name string
		rec  *meta.Narinfo // stored with the object; nil: a narinfo without one
		del  bool
	}{
		{"first put", &meta.Narinfo{Hash: h, Bucket: "ignored", StorePath: "/nix/store/" + h + "-x"}, false},
		{"overwrite with another record", ptr(newNarinfo(h, 2)), false},
		{"overwrite without a record", nil, false},
		{"put again", ptr(newNarinfo(h, 3)), false},
		{"delete", nil, true},
		{"delete again", nil, true},
		{"put after delete", ptr(newNarinfo(h, 4)), false},
	}
	for _, st := range steps {
		var err error
		if st.del {
			_, err = s.DeleteObject(ctx, "b", h+".narinfo", nil)
		} else {
			obj := narinfoObject("b", h, st.rec)
			_, err = s.PutObject(ctx, obj, nil)
			if err == nil && mustObject(t, s, "b", obj.Key).Narinfo != nil {
				t.Errorf("%s: Object returned a Narinfo", st.name)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		checkNarinfo(t, s, "b", h, st.rec)
		if t.Failed() {
			t.Fatalf("after %s", st.name)
		}
	}
	// The same hash in another bucket is another record.
	checkNarinfo(t, s, "c", h, nil)
	other := newNarinfo(h, 5)
	mustPut(t, s, narinfoObject("c", h, &other))
	checkNarinfo(t, s, "c", h, &other)
	checkNarinfo(t, s, "b", h, ptr(newNarinfo(h, 4)))

	// A record must be for its key: refused, and nothing stored.
	for _, c := range []struct{ key, hash string }{
		{nixHash(2) + ".narinfo", nixHash(3)},
		{nixHash(2), nixHash(2)},
		{"nar/" + nixHash(2) + ".narinfo", nixHash(2)},
		{nixHash(2) + ".narinfo.gz", nixHash(2)},
	} {
		obj := newObject("b", c.key)
		obj.Narinfo = ptr(newNarinfo(c.hash, 6))
		if _, err := s.PutObject(ctx, obj, nil); err == nil {
			t.Errorf("PutObject(%q) with the record of %q succeeded", c.key, c.hash)
		}
		if _, err := s.Object(ctx, "b", c.key); !errors.Is(err, meta.ErrNoSuchKey) {
			t.Errorf("Object(%q) after a refused put: %v, want ErrNoSuchKey", c.key, err)
		}
		checkNarinfo(t, s, "b", c.hash, nil)
	}

	// Other keys, and deleting keys that are not there, leave the index alone.
	mustPut(t, s, newObject("b", "nar/"+h+".nar.zst"))
	mustPut(t, s, newObject("b", h+".ls"))
	if _, err := s.DeleteObject(ctx, "b", nixHash(7)+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteObject(ctx, "b", h+".ls", nil); err != nil {
		t.Fatal(err)
	}
	checkNarinfo(t, s, "b", h, ptr(newNarinfo(h, 4)))
	checkStats(t, s, "b", meta.CacheStats{Paths: 1, NarBytes: 5040, FileBytes: 1004})
}

func ptr[T any](v T) *T { return &v }

// testNarinfoCheck vetoes every kind of indexed write: none changes the
// index.
func testNarinfoCheck(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	h := nixHash(1)
	rec := newNarinfo(h, 1)
	mustPut(t, s, narinfoObject("b", h, &rec))
	u := newUpload("b", h+".narinfo", "u1")
	mustCreateUpload(t, s, u)
	parts := mustPutParts(t, s, u, 1)
	veto := func(*meta.Object) error { return errVeto }

	for _, c := range []struct {
		name string
		fn   func() error
	}{
		{"PutObject with a record", func() error {
			_, err := s.PutObject(ctx, narinfoObject("b", h, ptr(newNarinfo(h, 2))), veto)
			return err
		}},
		{"PutObject without a record", func() error {
			_, err := s.PutObject(ctx, narinfoObject("b", h, nil), veto)
			return err
		}},
		{"DeleteObject", func() error {
			_, err := s.DeleteObject(ctx, "b", h+".narinfo", veto)
			return err
		}},
		{"CompleteUpload", func() error {
			_, err := s.CompleteUpload(ctx, "u1", multipartObject(u, parts...), veto)
			return err
		}},
	} {
		if err := c.fn(); err != errVeto {
			t.Errorf("%s with a failing check: error %v, want the check's error", c.name, err)
		}
		checkNarinfo(t, s, "b", h, &rec)
	}
	// A record for a new key, vetoed, is not added either.
	h2 := nixHash(2)
	if _, err := s.PutObject(ctx, narinfoObject("b", h2, ptr(newNarinfo(h2, 3))), veto); err != errVeto {
		t.Errorf("PutObject of a new narinfo with a failing check: %v", err)
	}
	checkNarinfo(t, s, "b", h2, nil)
	checkStats(t, s, "b", meta.CacheStats{Paths: 1, NarBytes: rec.NarSize, FileBytes: rec.FileSize})
}

// testNarinfoCompleteUpload replaces an indexed narinfo by a multipart
// upload: its record goes.
func testNarinfoCompleteUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	h, other := nixHash(1), nixHash(2)
	rec, otherRec := newNarinfo(h, 1), newNarinfo(other, 2)
	mustPut(t, s, narinfoObject("b", h, &rec))
	mustPut(t, s, narinfoObject("b", other, &otherRec))
	u := newUpload("b", h+".narinfo", "u1")
	mustCreateUpload(t, s, u)
	parts := mustPutParts(t, s, u, 2)
	if _, err := s.CompleteUpload(ctx, "u1", multipartObject(u, parts...), nil); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	checkNarinfo(t, s, "b", h, nil)
	checkNarinfo(t, s, "b", other, &otherRec)
	checkStats(t, s, "b", meta.CacheStats{Paths: 1, NarBytes: otherRec.NarSize, FileBytes: otherRec.FileSize})
}

func testCacheStats(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.CacheStats(ctx, "missing")
	wantErr(t, "CacheStats(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	checkStats(t, s, "b", meta.CacheStats{})

	var want meta.CacheStats
	recs := make([]meta.Narinfo, 20)
	for i := range recs {
		recs[i] = newNarinfo(nixHash(i), i)
		recs[i].NarSize = 1 << (i + 20) // sums beyond 32 bits
		mustPut(t, s, narinfoObject("b", recs[i].Hash, &recs[i]))
		want.Paths++
		want.NarBytes += recs[i].NarSize
		want.FileBytes += recs[i].FileSize
	}
	mustPut(t, s, narinfoObject("c", nixHash(100), ptr(newNarinfo(nixHash(100), 100))))
	mustPut(t, s, narinfoObject("b", nixHash(101), nil)) // not indexed
	mustPut(t, s, newObject("b", "nar/x.nar"))
	checkStats(t, s, "b", want)

	// An overwrite counts the new record only.
	repl := newNarinfo(recs[3].Hash, 1000)
	mustPut(t, s, narinfoObject("b", repl.Hash, &repl))
	want.NarBytes += repl.NarSize - recs[3].NarSize
	want.FileBytes += repl.FileSize - recs[3].FileSize
	checkStats(t, s, "b", want)

	for _, i := range []int{0, 7} {
		if _, err := s.DeleteObject(ctx, "b", recs[i].Hash+".narinfo", nil); err != nil {
			t.Fatal(err)
		}
		want.Paths--
		want.NarBytes -= recs[i].NarSize
		want.FileBytes -= recs[i].FileSize
	}
	checkStats(t, s, "b", want)
	checkStats(t, s, "c", meta.CacheStats{Paths: 1, NarBytes: 6000, FileBytes: 1100})
}

func testTouchNarinfos(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	const n = 3000
	recs := make([]meta.Narinfo, n)
	for i := range recs {
		recs[i] = newNarinfo(nixHash(i), i)
	}
	// Setting up thousands of records one PutObject at a time would take
	// as many commits: concurrent writers share them.
	putAll(t, s, "b", recs)
	other := newNarinfo(nixHash(0), 9)
	mustPut(t, s, narinfoObject("c", other.Hash, &other))

	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("UTC-5", -5*3600))
	var hashes []string
	for i := 0; i < n; i += 2 {
		hashes = append(hashes, recs[i].Hash)
	}
	hashes = append(hashes, nixHash(n+1), "", "not a hash") // no records: skipped
	if err := s.TouchNarinfos(ctx, "b", hashes, at); err != nil {
		t.Fatalf("TouchNarinfos of %d hashes: %v", len(hashes), err)
	}
	for i, rec := range recs {
		if i%2 == 0 {
			rec.LastAccess = at
		}
		checkNarinfo(t, s, "b", rec.Hash, &rec)
		if t.Failed() {
			t.FailNow()
		}
	}
	checkNarinfo(t, s, "c", other.Hash, &other) // another bucket's record
	checkNarinfo(t, s, "b", nixHash(n+1), nil)  // not created

	// Touching again sets the time given, earlier or not; nothing to touch
	// and a missing bucket are not errors.
	earlier := when.Add(-time.Hour)
	if err := s.TouchNarinfos(ctx, "b", []string{recs[0].Hash}, earlier); err != nil {
		t.Fatal(err)
	}
	recs[0].LastAccess = earlier
	checkNarinfo(t, s, "b", recs[0].Hash, &recs[0])
	if err := s.TouchNarinfos(ctx, "b", nil, at); err != nil {
		t.Errorf("TouchNarinfos of no hashes: %v", err)
	}
	if err := s.TouchNarinfos(ctx, "missing", []string{recs[0].Hash}, at); err != nil {
		t.Errorf("TouchNarinfos in a missing bucket: %v", err)
	}
	// An overwrite takes the new record's time.
	repl := newNarinfo(recs[2].Hash, 77)
	mustPut(t, s, narinfoObject("b", repl.Hash, &repl))
	checkNarinfo(t, s, "b", repl.Hash, &repl)
}

// putAll stores a narinfo object for each record, from several goroutines.
func putAll(t *testing.T, s meta.Store, bucket string, recs []meta.Narinfo) {
	t.Helper()
	const writers = 32
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := w; i < len(recs); i += writers {
				if _, err := s.PutObject(t.Context(), narinfoObject(bucket, recs[i].Hash, &recs[i]), nil); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("PutObject: %v", err)
		}
	}
}

// testNarinfoUsesReferences: indexing a narinfo makes the records it
// refers to used at its Created time, never earlier than they were, in
// its bucket only, unless they were used within meta.UseSlack before; its
// own record keeps its times.
func testNarinfoUsesReferences(t *testing.T, s meta.Store) {
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	old, recent, justUsed := newNarinfo(nixHash(1), 1), newNarinfo(nixHash(2), 2), newNarinfo(nixHash(5), 5)
	old.Created, old.LastAccess = when.Add(-90*24*time.Hour), when.Add(-90*24*time.Hour)
	recent.Created, recent.LastAccess = when.Add(-time.Hour), when.Add(time.Hour)
	justUsed.Created, justUsed.LastAccess = when.Add(-time.Hour), when.Add(-meta.UseSlack/2)
	elsewhere := old
	for _, r := range []meta.Narinfo{old, recent, justUsed} {
		mustPut(t, s, narinfoObject("b", r.Hash, &r))
	}
	mustPut(t, s, narinfoObject("c", elsewhere.Hash, &elsewhere))
	top := newNarinfo(nixHash(3), 3)
	top.Created, top.LastAccess = when, when
	for _, r := range []meta.Narinfo{old, recent, justUsed} {
		top.References = append(top.References, r.StorePath[len("/nix/store/"):])
	}
	mustPut(t, s, narinfoObject("b", top.Hash, &top))
	checkNarinfo(t, s, "b", top.Hash, &top)
	used := old
	used.LastAccess = when
	checkNarinfo(t, s, "b", old.Hash, &used)
	checkNarinfo(t, s, "b", recent.Hash, &recent)     // read after the push: stays
	checkNarinfo(t, s, "b", justUsed.Hash, &justUsed) // used just before: left alone
	checkNarinfo(t, s, "c", elsewhere.Hash, &elsewhere)

	// A copy (nixbucket migrate) changes no other record.
	copied := newNarinfo(nixHash(4), 4)
	copied.Created, copied.LastAccess = when.Add(time.Hour), when.Add(time.Hour)
	copied.References = []string{elsewhere.StorePath[len("/nix/store/"):]}
	copied.Copied = true
	mustPut(t, s, narinfoObject("c", copied.Hash, &copied))
	copied.Copied = false
	checkNarinfo(t, s, "c", copied.Hash, &copied)
	checkNarinfo(t, s, "c", elsewhere.Hash, &elsewhere)
}

// testCheckSeesNarinfo: a Check on a narinfo key gets the object with its
// index record (the garbage collector's delete judges its last use in the
// delete's transaction); on a narinfo without a record, or another key,
// none. A refusal leaves the record as it was.
func testCheckSeesNarinfo(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	rec := newNarinfo(nixHash(1), 1)
	rec.Created, rec.LastAccess = when, when.Add(time.Hour)
	mustPut(t, s, narinfoObject("b", rec.Hash, &rec))
	mustPut(t, s, narinfoObject("b", nixHash(2), nil))
	mustPut(t, s, newObject("b", "nar/x.nar"))
	refused := errors.New("refused")
	for _, c := range []struct {
		key  string
		want *meta.Narinfo
	}{
		{rec.Hash + ".narinfo", &rec},
		{nixHash(2) + ".narinfo", nil},
		{"nar/x.nar", nil},
	} {
		var got *meta.Narinfo
		seen := false
		_, err := s.DeleteObject(ctx, "b", c.key, func(cur *meta.Object) error {
			seen = cur != nil
			if cur != nil {
				got = cur.Narinfo
			}
			return refused
		})
		if !errors.Is(err, refused) || !seen {
			t.Fatalf("DeleteObject(%s) with a refusing check = %v (current object seen: %v)", c.key, err, seen)
		}
		want := c.want
		if want != nil {
			w := *want
			w.Bucket = "b"
			want = &w
		}
		if got != nil && want != nil && got.Created.Equal(want.Created) && got.LastAccess.Equal(want.LastAccess) {
			g := *got
			g.Created, g.LastAccess = want.Created, want.LastAccess
			got = &g
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DeleteObject(%s): the check saw record %+v, want %+v", c.key, got, want)
		}
	}
	checkNarinfo(t, s, "b", rec.Hash, &rec)
}
