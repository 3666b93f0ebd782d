package metatest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// pinPaths indexes n narinfos in bucket and returns their store paths.
func pinPaths(t *testing.T, s meta.Store, bucket string, n int) []string {
	t.Helper()
	var paths []string
	for i := range n {
		rec := newNarinfo(nixHash(500+i), i)
		mustPut(t, s, narinfoObject(bucket, rec.Hash, &rec))
		paths = append(paths, rec.StorePath)
	}
	return paths
}

// checkPins fails unless bucket's pins are want (Bucket set by the check).
func checkPins(t *testing.T, s meta.Store, bucket string, want ...meta.Pin) {
	t.Helper()
	got, err := s.Pins(t.Context(), bucket)
	if err != nil {
		t.Fatalf("Pins(%q): %v", bucket, err)
	}
	if len(got) != len(want) {
		t.Fatalf("Pins(%q): %d pins %+v, want %d %+v", bucket, len(got), got, len(want), want)
	}
	for i := range want {
		w := want[i]
		w.Bucket = bucket
		checkTime(t, "pin "+w.Name+" Updated", got[i].Updated, w.Updated)
		got[i].Updated, w.Updated = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got[i], w) {
			t.Errorf("Pins(%q)[%d]:\n got %+v\nwant %+v", bucket, i, got[i], w)
		}
	}
}

func mustPutPin(t *testing.T, s meta.Store, p meta.Pin) {
	t.Helper()
	if err := s.PutPin(t.Context(), p); err != nil {
		t.Fatalf("PutPin(%+v): %v", p, err)
	}
}

// testPins: pins are created, moved keeping the newest Keep revisions,
// listed by name and removed; a path without a narinfo is refused.
func testPins(t *testing.T, s meta.Store) {
	ctx := t.Context()
	wantErr(t, "Pins of a missing bucket", func() error { _, err := s.Pins(ctx, "nope"); return err }(), meta.ErrNoSuchBucket)
	wantErr(t, "PutPin in a missing bucket", s.PutPin(ctx, meta.Pin{Bucket: "nope", Name: "a", Paths: []string{"/nix/store/x"}}), meta.ErrNoSuchBucket)
	wantErr(t, "RemovePin in a missing bucket", s.RemovePin(ctx, "nope", "a"), meta.ErrNoSuchPin)

	mustCreateBucket(t, s, "cache")
	p := pinPaths(t, s, "cache", 4)
	checkPins(t, s, "cache")

	// A path the bucket has no narinfo for, or one whose hash matches
	// but whose name does not, is refused and changes nothing.
	other := "/nix/store/" + nixHash(999) + "-missing"
	wantErr(t, "PutPin of a path without narinfo", s.PutPin(ctx, meta.Pin{Bucket: "cache", Name: "app", Paths: []string{other}, Updated: when}), meta.ErrNoSuchKey)
	wrongName := p[0] + "-not"
	wantErr(t, "PutPin of a path with a wrong name", s.PutPin(ctx, meta.Pin{Bucket: "cache", Name: "app", Paths: []string{wrongName}, Updated: when}), meta.ErrNoSuchKey)
	for _, bad := range []meta.Pin{
		{Bucket: "cache", Name: "", Paths: p[:1]},
		{Bucket: "cache", Name: "app"},
		{Bucket: "cache", Name: "app", Paths: p[:1], Keep: -1},
	} {
		if err := s.PutPin(ctx, bad); err == nil {
			t.Errorf("PutPin(%+v) succeeded", bad)
		}
	}
	checkPins(t, s, "cache")

	at := func(i int) time.Time { return when.Add(time.Duration(i) * time.Hour) }
	// New pin: Keep 1 by default.
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "app", Paths: p[:1], Updated: at(1)})
	checkPins(t, s, "cache", meta.Pin{Name: "app", Paths: p[:1], Keep: 1, Updated: at(1)})
	// Moving with Keep 1 forgets the old path.
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "app", Paths: p[1:2], Updated: at(2)})
	checkPins(t, s, "cache", meta.Pin{Name: "app", Paths: p[1:2], Keep: 1, Updated: at(2)})
	// Keep 2 keeps the two newest, and stays the pin's Keep.
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "app", Paths: p[2:3], Keep: 2, Updated: at(3)})
	checkPins(t, s, "cache", meta.Pin{Name: "app", Paths: []string{p[2], p[1]}, Keep: 2, Updated: at(3)})
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "app", Paths: p[3:4], Updated: at(4)})
	checkPins(t, s, "cache", meta.Pin{Name: "app", Paths: []string{p[3], p[2]}, Keep: 2, Updated: at(4)})
	// Pinning a kept path again moves it to the front, without a copy.
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "app", Paths: p[2:3], Updated: at(5)})
	checkPins(t, s, "cache", meta.Pin{Name: "app", Paths: []string{p[2], p[3]}, Keep: 2, Updated: at(5)})
	// A failed move leaves the pin as it was.
	wantErr(t, "PutPin moving to a path without narinfo", s.PutPin(ctx, meta.Pin{Bucket: "cache", Name: "app", Paths: []string{other}, Updated: at(6)}), meta.ErrNoSuchKey)
	checkPins(t, s, "cache", meta.Pin{Name: "app", Paths: []string{p[2], p[3]}, Keep: 2, Updated: at(5)})
	// Lowering Keep drops the oldest at once.
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "app", Paths: p[0:1], Keep: 1, Updated: at(6)})
	checkPins(t, s, "cache", meta.Pin{Name: "app", Paths: p[0:1], Keep: 1, Updated: at(6)})

	// Several pins, listed by name; names are case-sensitive.
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "App", Paths: p[1:2], Keep: 3, Updated: at(7)})
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "zz", Paths: p[1:2], Updated: at(8)})
	checkPins(t, s, "cache",
		meta.Pin{Name: "App", Paths: p[1:2], Keep: 3, Updated: at(7)},
		meta.Pin{Name: "app", Paths: p[0:1], Keep: 1, Updated: at(6)},
		meta.Pin{Name: "zz", Paths: p[1:2], Keep: 1, Updated: at(8)})

	// Pins are per bucket: the same paths elsewhere are someone else's.
	mustCreateBucket(t, s, "other")
	wantErr(t, "PutPin of another bucket's path", s.PutPin(ctx, meta.Pin{Bucket: "other", Name: "app", Paths: p[:1]}), meta.ErrNoSuchKey)
	checkPins(t, s, "other")

	if err := s.RemovePin(ctx, "cache", "App"); err != nil {
		t.Fatalf("RemovePin: %v", err)
	}
	wantErr(t, "RemovePin again", s.RemovePin(ctx, "cache", "App"), meta.ErrNoSuchPin)
	wantErr(t, "RemovePin in the wrong bucket", s.RemovePin(ctx, "other", "app"), meta.ErrNoSuchPin)
	checkPins(t, s, "cache",
		meta.Pin{Name: "app", Paths: p[0:1], Keep: 1, Updated: at(6)},
		meta.Pin{Name: "zz", Paths: p[1:2], Keep: 1, Updated: at(8)})

	// Removing a pinned narinfo is not the store's business (GC and
	// path delete decide); the pin stays until removed.
	if _, err := s.DeleteObject(ctx, "cache", nixHash(500)+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	checkPins(t, s, "cache",
		meta.Pin{Name: "app", Paths: p[0:1], Keep: 1, Updated: at(6)},
		meta.Pin{Name: "zz", Paths: p[1:2], Keep: 1, Updated: at(8)})
}

// testPinnedPaths: the adapter GC uses lists every kept revision of every
// pin once, sorted.
func testPinnedPaths(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "cache")
	p := pinPaths(t, s, "cache", 4)
	pinned := meta.Pinned{Pins: s}
	if got, err := pinned.PinnedPaths(ctx, "cache"); err != nil || len(got) != 0 {
		t.Fatalf("PinnedPaths of no pins = %v, %v", got, err)
	}
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "a", Paths: p[3:4], Keep: 3, Updated: when})
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "a", Paths: p[2:3], Updated: when})
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "b", Paths: p[2:3], Updated: when})
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "c", Paths: p[0:1], Updated: when})
	got, err := pinned.PinnedPaths(ctx, "cache")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{p[0], p[2], p[3]}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("PinnedPaths = %v, want %v", got, want)
	}
	_, err = pinned.PinnedPaths(ctx, "nope")
	wantErr(t, "PinnedPaths of a missing bucket", err, meta.ErrNoSuchBucket)
}

// testPinsBucketCleanup: DeleteBucket removes the bucket's pins, so a
// bucket created again under the name starts without them.
func testPinsBucketCleanup(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "cache")
	p := pinPaths(t, s, "cache", 1)
	mustPutPin(t, s, meta.Pin{Bucket: "cache", Name: "app", Paths: p, Updated: when})
	if _, err := s.DeleteObject(ctx, "cache", nixHash(500)+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "cache"); err != nil {
		t.Fatalf("DeleteBucket with a pin: %v", err)
	}
	mustCreateBucket(t, s, "cache")
	checkPins(t, s, "cache")
}

// testPinsShared: a pin moved by one instance (the CLI) is what another
// (the server) lists, and the other way round.
func testPinsShared(t *testing.T, s meta.Store, reopen Reopen) {
	mustCreateBucket(t, s, "cache")
	p := pinPaths(t, s, "cache", 3)
	s2 := reopen(t)
	for i, sp := range p {
		st := s
		if i%2 == 1 {
			st = s2
		}
		mustPutPin(t, st, meta.Pin{Bucket: "cache", Name: "ci", Paths: []string{sp}, Keep: 2, Updated: when.Add(time.Duration(i) * time.Minute)})
	}
	want := meta.Pin{Name: "ci", Paths: []string{p[2], p[1]}, Keep: 2, Updated: when.Add(2 * time.Minute)}
	checkPins(t, s, "cache", want)
	checkPins(t, s2, "cache", want)
	if err := s2.RemovePin(t.Context(), "cache", "ci"); err != nil {
		t.Fatal(err)
	}
	checkPins(t, s, "cache")
}
