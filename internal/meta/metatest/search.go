package metatest

import (
	"slices"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// testSearchNarinfos finds records by hash prefix and by name prefix, in
// one bucket only, hashes first and without repeats, within the limit,
// and nothing for a query no store path could match.
func testSearchNarinfos(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.SearchNarinfos(ctx, "missing", "x", 10)
	wantErr(t, "SearchNarinfos(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	names := []string{"hello-2.12", "hello-unwrapped-1", "help-1.0", "Hello-caps", "glibc-2.40", "zlib-1.3"}
	var recs []meta.Narinfo
	for i, name := range names {
		n := newNarinfo(nixHash(i+1), i)
		n.StorePath = "/nix/store/" + n.Hash + "-" + name
		recs = append(recs, n)
	}
	putAll(t, s, "b", recs)
	other := newNarinfo(nixHash(50), 50)
	other.StorePath = "/nix/store/" + other.Hash + "-hello-other"
	mustPut(t, s, narinfoObject("c", other.Hash, &other))

	search := func(q string, limit int) []string {
		t.Helper()
		got, err := s.SearchNarinfos(ctx, "b", q, limit)
		if err != nil {
			t.Fatalf("SearchNarinfos(%q): %v", q, err)
		}
		var paths []string
		for _, n := range got {
			if n.Bucket != "b" || n.NarHash == "" || len(n.References) == 0 {
				t.Fatalf("SearchNarinfos(%q) returned a partial record %+v", q, n)
			}
			paths = append(paths, n.StorePath[len("/nix/store/")+33:])
		}
		return paths
	}
	for _, tc := range []struct {
		q     string
		limit int
		want  []string
	}{
		{"hel", 10, []string{"hello-2.12", "hello-unwrapped-1", "help-1.0"}}, // case-sensitive, name order
		{"hello-", 10, []string{"hello-2.12", "hello-unwrapped-1"}},
		{"hel", 2, []string{"hello-2.12", "hello-unwrapped-1"}},
		{"Hello", 10, []string{"Hello-caps"}},
		{nixHash(3), 10, []string{"help-1.0"}},                                   // a whole hash
		{"/nix/store/" + nixHash(5) + "-glibc-2.40", 10, []string{"glibc-2.40"}}, // a store path
		{nixHash(3)[:20], 10, []string{"hello-2.12", "hello-unwrapped-1", "help-1.0", "Hello-caps", "glibc-2.40", "zlib-1.3"}},
		{"nothing", 10, nil},
		{"hello world", 10, nil}, // no store path has a space
		{"", 10, nil},
		{"%", 10, nil},
	} {
		got := search(tc.q, tc.limit)
		if tc.q == nixHash(3)[:20] {
			slices.Sort(got)
			slices.Sort(tc.want)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SearchNarinfos(%q, %d) = %q, want %q", tc.q, tc.limit, got, tc.want)
		}
	}
	// A hash prefix that is also a name prefix comes once.
	n := newNarinfo(nixHash(9), 9)
	n.StorePath = "/nix/store/" + n.Hash + "-" + n.Hash + "-self"
	mustPut(t, s, narinfoObject("b", n.Hash, &n))
	if got := search(n.Hash, 10); len(got) != 1 {
		t.Errorf("SearchNarinfos(hash and name prefix) = %q, want one record", got)
	}
}

// testRecentNarinfos lists a bucket's records newest first, within the
// limit.
func testRecentNarinfos(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.RecentNarinfos(ctx, "missing", 10)
	wantErr(t, "RecentNarinfos(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	if got, err := s.RecentNarinfos(ctx, "b", 10); err != nil || len(got) != 0 {
		t.Fatalf("RecentNarinfos(empty) = %v, %v", got, err)
	}
	var recs []meta.Narinfo
	for i := range 7 {
		n := newNarinfo(nixHash(20-i), i)
		n.Created = when.Add(time.Duration((i*3)%7) * time.Hour) // pushed out of hash order
		recs = append(recs, n)
	}
	putAll(t, s, "b", recs)
	got, err := s.RecentNarinfos(ctx, "b", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("RecentNarinfos(limit 4) returned %d", len(got))
	}
	for i, n := range got {
		if want := when.Add(time.Duration(6-i) * time.Hour); !n.Created.Equal(want) {
			t.Errorf("RecentNarinfos[%d] created %v, want %v", i, n.Created, want)
		}
	}
}
