package metatest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func testReferenced(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	if m, err := s.Referenced(ctx, nil); err != nil || len(m) != 0 {
		t.Errorf("Referenced(nil) = %v, %v; want an empty map", m, err)
	}
	v1 := newObject("b", "k")
	mustPut(t, s, v1)
	v2 := newObject("b", "k")
	mustPut(t, s, v2)
	u := newUpload("b", "m", "u1")
	mustCreateUpload(t, s, u)
	parts := mustPutParts(t, s, u, 2)
	checkReferenced(t, s, map[string]bool{
		v1.Segments[0].Blob:       false,
		v2.Segments[0].Blob:       true,
		parts[0].Segment.Blob:     true,
		parts[1].Segment.Blob:     true,
		"never-heard-of":          false,
		"":                        false,
		v2.Segments[0].Blob + "x": false,
	})
	if _, err := s.AbortUpload(ctx, "b", "m", "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteObject(ctx, "b", "k", nil); err != nil {
		t.Fatal(err)
	}
	checkReferenced(t, s, map[string]bool{
		v2.Segments[0].Blob:   false,
		parts[0].Segment.Blob: false,
		parts[1].Segment.Blob: false,
	})
}

func testAccessKeys(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if ks, err := s.AccessKeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("AccessKeys on an empty store = %v, %v; want none", ks, err)
	}
	keys := []meta.AccessKey{
		{ID: "NBKEY2", Secret: "s2/+=secret", User: "bob", Created: when, Enabled: false},
		{ID: "NBKEY1", Secret: "s1", User: "admin", Created: when.Add(time.Hour), Enabled: true},
	}
	for _, k := range keys {
		if err := s.PutAccessKey(ctx, k); err != nil {
			t.Fatalf("PutAccessKey(%q): %v", k.ID, err)
		}
	}
	dup := keys[0]
	dup.Secret = "other"
	wantErr(t, "PutAccessKey of an existing ID", s.PutAccessKey(ctx, dup), meta.ErrAccessKeyExists)

	check := func(got, want meta.AccessKey) {
		t.Helper()
		checkTime(t, "access key "+want.ID+" Created", got.Created, want.Created)
		got.Created, want.Created = time.Time{}, time.Time{}
		if got != want {
			t.Errorf("access key:\n got %+v\nwant %+v", got, want)
		}
	}
	for _, k := range keys {
		got, err := s.AccessKey(ctx, k.ID)
		if err != nil {
			t.Fatalf("AccessKey(%q): %v", k.ID, err)
		}
		check(got, k)
	}
	_, err := s.AccessKey(ctx, "nbkey1") // IDs are case-sensitive
	wantErr(t, "AccessKey of a missing ID", err, meta.ErrNoSuchAccessKey)

	ks, err := s.AccessKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 {
		t.Fatalf("AccessKeys = %+v, want 2 keys", ks)
	}
	check(ks[0], keys[1])
	check(ks[1], keys[0])
}

// testConcurrentPut runs 16 writers, each putting to its own key and to one
// shared key and sometimes deleting the shared key. Afterwards every blob
// ever put is either current or was returned as garbage, exactly once.
func testConcurrentPut(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	const writers, rounds = 16, 12

	var (
		mu      sync.Mutex
		put     = make(map[string]bool)
		garbage = make(map[string]int)
		errs    []error
	)
	record := func(obj meta.Object, g []meta.Segment, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		if obj.Key != "" {
			put[obj.Segments[0].Blob] = true
		}
		for _, seg := range g {
			garbage[seg.Blob]++
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				key := fmt.Sprintf("own-%02d", w)
				if r%2 == 1 {
					key = "shared"
				}
				obj := newObject("b", key)
				g, err := s.PutObject(ctx, obj, nil)
				record(obj, g, err)
				if r%5 == 4 {
					g, err := s.DeleteObject(ctx, "b", "shared", nil)
					record(meta.Object{}, g, err)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent writes: %v", err)
	}

	current := make(map[string]bool)
	keys := []string{"shared"}
	for w := range writers {
		keys = append(keys, fmt.Sprintf("own-%02d", w))
	}
	for _, k := range keys {
		obj, err := s.Object(ctx, "b", k)
		if errors.Is(err, meta.ErrNoSuchKey) && k == "shared" {
			continue // the last operation on it may have been a delete
		}
		if err != nil {
			t.Fatalf("Object(%q): %v", k, err)
		}
		for _, seg := range obj.Segments {
			current[seg.Blob] = true
		}
	}
	for b, n := range garbage {
		switch {
		case !put[b]:
			t.Errorf("garbage %q was never put", b)
		case n != 1:
			t.Errorf("garbage %q returned %d times", b, n)
		case current[b]:
			t.Errorf("garbage %q is still current", b)
		}
	}
	for b := range put {
		if !current[b] && garbage[b] == 0 {
			t.Errorf("blob %q lost: neither current nor garbage", b)
		}
	}
	if len(put) != writers*rounds {
		t.Errorf("%d blobs put, want %d", len(put), writers*rounds)
	}
	ref := make(map[string]bool, len(put))
	for b := range put {
		ref[b] = current[b]
	}
	checkReferenced(t, s, ref)
}

// testConcurrentCreateIfAbsent races 16 If-None-Match: * puts of one key:
// exactly one wins.
func testConcurrentCreateIfAbsent(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	const racers = 16
	objs := make([]meta.Object, racers)
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		objs[i] = newObject("b", "race")
		wg.Go(func() {
			g, err := s.PutObject(ctx, objs[i], func(cur *meta.Object) error {
				if cur != nil {
					return meta.ErrPreconditionFailed
				}
				return nil
			})
			if len(g) != 0 {
				err = errors.Join(err, fmt.Errorf("garbage %v from a create", g))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both created the object", winner, i)
		case err == nil:
			winner = i
		case err != meta.ErrPreconditionFailed:
			t.Errorf("racer %d: %v, want the check's error", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer created the object")
	}
	checkObject(t, mustObject(t, s, "b", "race"), objs[winner], true)
}
