package metatest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// trickyKeys are keys whose byte order differs from naive expectations:
// characters below '/', multibyte UTF-8 (which sorts after all of ASCII),
// the largest code point, and keys of the maximum length of 1024 bytes.
var trickyKeys = []string{
	"a", "a b", "a!", "a/", "a/b", "a/b/c", "a0", "ab", "a~",
	"a\u00ff", "a\U0010FFFF", "B", "b", "é", "z", "~",
	"日本", "日本/語", "😀",
	strings.Repeat("k", 1024),
	"a/" + strings.Repeat("é", 511), // 1024 bytes
	"nar/0a1b2c3d.nar.zst", "nar/0a1b2c3d.nar", "nar/0a1b2c3d.narinfo",
	// Control characters, and what LIKE or a collation would mistreat.
	"a\x01", "a\t", "a\x7f", "a%", "a%b", "a_", "a_b", "a\\", "a\\%", "A", "aB",
}

// notUTF8 are prefixes and markers that are not valid UTF-8, which keys
// always are. Clients may send them, and objects.List passes P+"\xff" as
// a marker to skip every key under P (a common prefix already listed):
// they select keys by byte order all the same. Among them are truncated
// and invalid encodings next to keys that share their first bytes ("é" is
// "\xc3\xa9", "日" "\xe6\x97\xa5", "a\u00ff" "a\xc3\xbf").
var notUTF8 = []string{
	"\xff", "a\xff", "a/\xff", "a/b/\xff", "nar/\xff", "日本/\xff", "日\xff", "a\x00\xff",
	"\xc3", "a\xc3", "\xe6\x97", "a\xc3\xc0", "a\xc0\x80", "a\xed\xa0\x80", "a\xf4\x90\x80\x80", "\xf4\x8f\xbf\xbf\xbf",
}

// sortedKeys returns keys in S3 listing order, byte order.
func sortedKeys(keys []string) []string {
	s := slices.Clone(keys)
	slices.Sort(s) // Go compares strings bytewise
	return s
}

// wantKeys returns the sorted keys with the prefix and greater than after.
func wantKeys(keys []string, prefix, after string) []string {
	var out []string
	for _, k := range sortedKeys(keys) {
		if strings.HasPrefix(k, prefix) && k > after {
			out = append(out, k)
		}
	}
	return out
}

// putKeys stores one object per key in bucket and returns them by key.
func putKeys(t *testing.T, s meta.Store, bucket string, keys []string) map[string]meta.Object {
	objs := make(map[string]meta.Object, len(keys))
	for i, k := range keys {
		obj := newObject(bucket, k)
		obj.ETag = fmt.Sprintf("etag-%d", i)
		obj.Modified = when.Add(time.Duration(i) * time.Second)
		mustPut(t, s, obj)
		objs[k] = obj
	}
	return objs
}

func scanKeys(objs []meta.Object) []string {
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

func testScanObjects(t *testing.T, s meta.Store) {
	ctx := t.Context()
	// The expectations below rest on byte order; state the crucial cases.
	for _, p := range [][2]string{{"a b", "a!"}, {"a!", "a/"}, {"a/", "a0"}, {"B", "a"}, {"z", "é"}, {"a~", "a\u00ff"}, {"é", "日本"}, {"日本", "😀"}} {
		if !(p[0] < p[1]) {
			t.Fatalf("test premise: %q < %q", p[0], p[1])
		}
	}
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "other")
	objs := putKeys(t, s, "b", trickyKeys)
	mustPut(t, s, newObject("other", "a/zzz")) // must not leak into b's listings

	prefixes := []string{"", "a", "a%", "a_", "a\\", "A", "a\x01", "a/", "a/b", "a/b/c", "a/b/c/", "a\U0010FFFF", "B", "é", "日", "日本/",
		"~", "nar/", "nar/0a1b2c3d.nar", "k", strings.Repeat("k", 1024), "missing", "\U0010FFFF"}
	prefixes = append(prefixes, notUTF8...)
	afters := []string{"", "a", "a ", "a\x01", "a%", "a_", "A", "a!", "a/", "a/a", "a/b", "a\u00ff", "b", "nar/", "zz", "日本", "\U0010FFFF"}
	afters = append(afters, notUTF8...)
	for _, prefix := range prefixes {
		for _, after := range afters {
			got, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b", Prefix: prefix, After: after, Limit: 1000})
			if err != nil {
				t.Fatalf("ScanObjects(prefix %q, after %q): %v", prefix, after, err)
			}
			want := wantKeys(trickyKeys, prefix, after)
			if g := scanKeys(got); !slices.Equal(g, want) {
				t.Errorf("ScanObjects(prefix %q, after %q) = %q, want %q", prefix, after, g, want)
			}
		}
	}

	// Listed objects carry every field but (optionally) the segments.
	got, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range got {
		checkObject(t, o, objs[o.Key], false)
		if len(o.Segments) > 0 {
			checkObject(t, o, objs[o.Key], true)
		}
	}

	// With Segments, every object comes whole, as Object returns it:
	// segments (inline bodies included) and tags.
	inline := newObject("b", "debuginfo/0123.debug")
	inline.Segments = []meta.Segment{{Size: 9, Data: []byte(`{"a":"b"}`)}}
	inline.Size = 9
	inline.Tags = []meta.Tag{{Key: "k", Value: "v"}}
	mustPut(t, s, inline)
	for _, prefix := range []string{"", "a/", "debuginfo/"} {
		whole, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b", Prefix: prefix, Limit: 1000, Segments: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(whole) == 0 {
			t.Errorf("ScanObjects(prefix %q, Segments) found nothing", prefix)
		}
		for _, o := range whole {
			checkObject(t, o, mustObject(t, s, "b", o.Key), true)
		}
	}

	empty, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "other", Prefix: "b", Limit: 10})
	if err != nil || len(empty) != 0 {
		t.Errorf("ScanObjects with no match = %v, %v; want none", empty, err)
	}
}

func testScanObjectsPaging(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	putKeys(t, s, "b", trickyKeys)
	for _, prefix := range []string{"", "a", "a/", "nar/", "日本"} {
		want := wantKeys(trickyKeys, prefix, "")
		for _, limit := range []int{1, 2, 3, 7} {
			var got []string
			after := ""
			for page := 0; ; page++ {
				if page > len(trickyKeys) {
					t.Fatalf("prefix %q, limit %d: paging does not end", prefix, limit)
				}
				objs, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b", Prefix: prefix, After: after, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				if len(objs) > limit {
					t.Fatalf("prefix %q: %d objects for limit %d", prefix, len(objs), limit)
				}
				got = append(got, scanKeys(objs)...)
				if len(objs) < limit {
					break
				}
				after = objs[len(objs)-1].Key
			}
			if !slices.Equal(got, want) {
				t.Errorf("prefix %q, pages of %d: %q, want %q", prefix, limit, got, want)
			}
		}
	}
}
