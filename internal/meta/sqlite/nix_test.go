package sqlite

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

const testHash = "0aaf7mhrfqigdmdfd2m9wkpz6qfgkhbf"

// narinfoObj returns the object <hash>.narinfo in bucket "b" with rec.
func narinfoObj(hash, blob string, rec *meta.Narinfo) meta.Object {
	obj := testObj(hash+".narinfo", blob)
	obj.Narinfo = rec
	return obj
}

func record(hash, url string) *meta.Narinfo {
	return &meta.Narinfo{Hash: hash, StorePath: "/nix/store/" + hash + "-x", URL: url, NarSize: 10, FileSize: 5}
}

// indexed returns the URL of the record for hash in bucket "b", "" if none.
func indexed(t *testing.T, s *Store, hash string) string {
	t.Helper()
	n, err := s.Narinfo(t.Context(), "b", hash)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return ""
	}
	if err != nil {
		t.Fatalf("Narinfo(%q): %v", hash, err)
	}
	return n.URL
}

// TestCommitBatchNarinfo commits one batch of index changes by hand: the
// requests that fail, before or after changing the index, roll back to
// their savepoints; the others commit together.
func TestCommitBatchNarinfo(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	const h1, h2, h3 = testHash, "1aaf7mhrfqigdmdfd2m9wkpz6qfgkhbf", "2aaf7mhrfqigdmdfd2m9wkpz6qfgkhbf"
	for _, h := range []string{h1, h2} {
		if _, err := s.PutObject(ctx, narinfoObj(h, "old-"+h, record(h, "old")), nil); err != nil {
			t.Fatal(err)
		}
	}
	veto := errors.New("veto")
	vetoAfter := func(fn func(t *txn) error) func(t *txn) error {
		return func(t *txn) error {
			if err := fn(t); err != nil {
				return err
			}
			return veto
		}
	}
	del := func(key string) func(t *txn) error {
		return func(t *txn) error {
			if _, err := t.exec(qDeleteObject, "b", key); err != nil {
				return err
			}
			return t.indexObject("b", key, nil)
		}
	}
	reqs := []*writeReq{
		{ctx: ctx, fn: put(narinfoObj(h1, "a", record(h1, "new")), nil)},
		{ctx: ctx, fn: put(narinfoObj(h2, "b", record(h2, "vetoed")), func(*meta.Object) error { return veto })},
		{ctx: ctx, fn: vetoAfter(put(narinfoObj(h2, "c", nil), nil))},                  // would unindex h2
		{ctx: ctx, fn: vetoAfter(put(narinfoObj(h3, "d", record(h3, "failed")), nil))}, // would index h3
		{ctx: ctx, fn: vetoAfter(del(h1 + ".narinfo"))},                                // would unindex h1
		{ctx: ctx, fn: put(narinfoObj(h3, "e", record(h3, "kept")), nil)},
	}
	s.commit(reqs)
	wantErrs := []error{nil, veto, veto, veto, veto, nil}
	for i, r := range reqs {
		if r.err != wantErrs[i] {
			t.Errorf("request %d: error %v, want %v", i, r.err, wantErrs[i])
		}
	}
	for h, want := range map[string]string{h1: "new", h2: "old", h3: "kept"} {
		if got := indexed(t, s, h); got != want {
			t.Errorf("record of %s has URL %q, want %q", h, got, want)
		}
	}
}

// TestNarinfoWritesKeepGeneration checks that the index, written on every
// narinfo upload and touched on every read, does not make caches of
// identity data reload.
func TestNarinfoWritesKeepGeneration(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	before := gen(t, s)
	if _, err := s.PutObject(ctx, narinfoObj(testHash, "x", record(testHash, "u")), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchNarinfos(ctx, "b", []string{testHash}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteObject(ctx, "b", testHash+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	if after := gen(t, s); after != before {
		t.Errorf("generation went from %d to %d", before, after)
	}
}

// TestMigrateFromV2 upgrades a database of the second schema: old buckets
// become caches with the default settings.
func TestMigrateFromV2(t *testing.T) {
	ctx := t.Context()
	s := openFromVersion(t, 2, "INSERT INTO buckets (name, created) VALUES ('b', 1)")
	if cs, err := s.CacheSettings(ctx, "b"); err != nil || cs != meta.DefaultCacheSettings {
		t.Errorf("CacheSettings of an old bucket = %+v, %v", cs, err)
	}
	if _, err := s.PutObject(ctx, narinfoObj(testHash, "x", record(testHash, "u")), nil); err != nil {
		t.Fatal(err)
	}
	if got := indexed(t, s, testHash); got != "u" {
		t.Errorf("record URL %q after migrating, want u", got)
	}
}

// TestNarinfoForeignKeys checks that the schema refuses records, settings
// and keys of buckets that do not exist, so a bug cannot leave them behind.
func TestNarinfoForeignKeys(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO narinfos (bucket, hash, ` + narinfoCols + `)
			VALUES (?, 'h', 0, 0, 0, 0, '', '', '', '', '', '', '', x'0100', x'0100')`,
		`INSERT INTO cache_settings (bucket, priority, want_mass_query) VALUES (?, 1, 1)`,
		`INSERT INTO signing_keys VALUES (?, 'k', 's', 0)`,
	} {
		_, err := s.w.db.ExecContext(ctx, q, "missing")
		if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Errorf("%.50s for a missing bucket: %v, want a foreign key error", q, err)
		}
		if _, err := s.w.db.ExecContext(ctx, q, "b"); err != nil {
			t.Errorf("%.50s for an existing bucket: %v", q, err)
		}
	}
}

func TestStringsRoundTrip(t *testing.T) {
	for _, ss := range [][]string{
		nil,
		{""},
		{"a", "", "b c\nd"},
		{testHash + "-hello-2.12", string(make([]byte, 300))},
	} {
		got, err := metaenc.DecodeStrings(string(metaenc.EncodeStrings(ss)))
		if err != nil {
			t.Fatalf("decode(encode(%q)): %v", ss, err)
		}
		if !reflect.DeepEqual(got, ss) {
			t.Errorf("decode(encode(%q)) = %q", ss, got)
		}
	}
	good := string(metaenc.EncodeStrings([]string{"ab", "c"}))
	for _, bad := range []string{"", "\x02\x00", "\x01", "\x01\x01", "\x01\x02\x01a",
		"\x01\xff\xff\xff\xff\x0f", good[:len(good)-1], good + "\x00"} {
		if _, err := metaenc.DecodeStrings(bad); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}

// FuzzStrings checks that whatever decodes re-encodes to the same value.
func FuzzStrings(f *testing.F) {
	f.Add(metaenc.EncodeStrings([]string{"a", "bc"}))
	f.Add([]byte("\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := metaenc.DecodeStrings(string(b))
		if err != nil {
			return
		}
		again, err := metaenc.DecodeStrings(string(metaenc.EncodeStrings(ss)))
		if err != nil || !reflect.DeepEqual(again, ss) {
			t.Fatalf("round trip of %q: %q, %v", ss, again, err)
		}
	})
}
