package metatest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Races between instances: two servers on one store, each with writers,
// where the SQLite store's single writer cannot be what keeps them apart.

// racers is how many goroutines race, spread over the two instances.
const racers = 16

// race runs fn(i, instance) for each racer, alternating instances, and
// returns their errors.
func race(a, b meta.Store, fn func(i int, s meta.Store) error) []error {
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() { errs[i] = fn(i, s) })
	}
	wg.Wait()
	return errs
}

// oneWinner fails unless exactly one of errs is nil and every other is
// loser; it returns the winner.
func oneWinner(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Errorf("racer %d: %v, want %v", i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatal("no racer won")
	}
	return winner
}

// testRaceCreateIfAbsentShared: If-None-Match puts of one key through two
// instances: exactly one creates the object.
func testRaceCreateIfAbsentShared(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	mustCreateBucket(t, a, "b")
	objs := make([]meta.Object, racers)
	for i := range objs {
		objs[i] = newObject("b", "race")
	}
	errs := race(a, b, func(i int, s meta.Store) error {
		g, err := s.PutObject(t.Context(), objs[i], func(cur *meta.Object) error {
			if cur != nil {
				return meta.ErrPreconditionFailed
			}
			return nil
		})
		if len(g) != 0 {
			err = errors.Join(err, fmt.Errorf("garbage %v from a create", g))
		}
		return err
	})
	w := oneWinner(t, errs, meta.ErrPreconditionFailed)
	checkObject(t, mustObject(t, b, "b", "race"), objs[w], true)
	want := map[string]bool{}
	for i, o := range objs {
		want[o.Segments[0].Blob] = i == w
	}
	checkReferenced(t, a, want)
}

// testRaceIfMatchShared: If-Match puts against one version through two
// instances: exactly one replaces it, and only it gets the old version's
// blob as garbage.
func testRaceIfMatchShared(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	mustCreateBucket(t, a, "b")
	v0 := newObject("b", "k")
	v0.ETag = "00000000000000000000000000000000"
	mustPut(t, a, v0)
	objs := make([]meta.Object, racers)
	garbage := make([][]meta.Segment, racers)
	for i := range objs {
		objs[i] = newObject("b", "k")
		objs[i].ETag = fmt.Sprintf("%032x", i+1)
	}
	errs := race(a, b, func(i int, s meta.Store) error {
		var err error
		garbage[i], err = s.PutObject(t.Context(), objs[i], func(cur *meta.Object) error {
			if cur == nil || cur.ETag != v0.ETag {
				return meta.ErrPreconditionFailed
			}
			return nil
		})
		return err
	})
	w := oneWinner(t, errs, meta.ErrPreconditionFailed)
	checkObject(t, mustObject(t, a, "b", "k"), objs[w], true)
	for i, g := range garbage {
		if i == w {
			checkGarbage(t, "the winner", g, v0.Segments...)
		} else {
			checkGarbage(t, fmt.Sprintf("loser %d", i), g)
		}
	}
}

// testRaceCompleteUploadShared: completions of one upload through two
// instances: exactly one completes it, the others find it gone.
func testRaceCompleteUploadShared(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	ctx := t.Context()
	mustCreateBucket(t, a, "b")
	u := meta.Upload{Bucket: "b", Key: "k", ID: "upload-race", Initiated: when}
	mustCreateUpload(t, a, u)
	var segs []meta.Segment
	for n := 1; n <= 2; n++ {
		seg := newBlob(int64(n) << 20)
		if _, err := b.PutPart(ctx, "b", "k", u.ID, meta.Part{Number: n, Size: seg.Size, ETag: "e", Modified: when, Segment: seg}); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, seg)
	}
	obj := meta.Object{Bucket: "b", Key: "k", Size: 3 << 20, ETag: "abc-2", Modified: when, PartsCount: 2, Segments: segs}
	errs := race(a, b, func(i int, s meta.Store) error {
		g, err := s.CompleteUpload(ctx, u.ID, obj, nil)
		if len(g) != 0 {
			err = errors.Join(err, fmt.Errorf("garbage %v from a completion", g))
		}
		return err
	})
	oneWinner(t, errs, meta.ErrNoSuchUpload)
	checkObject(t, mustObject(t, b, "b", "k"), obj, true)
	checkReferenced(t, a, map[string]bool{segs[0].Blob: true, segs[1].Blob: true})
}

// testRaceSharedBlobShared: objects sharing one blob, put and deleted
// through two instances at once: the blob is garbage exactly once, after
// the last reference went.
func testRaceSharedBlobShared(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	ctx := t.Context()
	mustCreateBucket(t, a, "b")
	seg := newBlob(1000)
	obj := func(i int) meta.Object {
		o := newObject("b", fmt.Sprintf("k%02d", i))
		o.Segments, o.Size = []meta.Segment{seg}, seg.Size
		return o
	}
	for _, err := range race(a, b, func(i int, s meta.Store) error {
		g, err := s.PutObject(ctx, obj(i), nil)
		if len(g) != 0 {
			err = errors.Join(err, fmt.Errorf("garbage %v from a put", g))
		}
		return err
	}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkReferenced(t, a, map[string]bool{seg.Blob: true})
	garbage := make([][]meta.Segment, racers)
	for _, err := range race(a, b, func(i int, s meta.Store) error {
		var err error
		garbage[i], err = s.DeleteObject(ctx, "b", fmt.Sprintf("k%02d", i), nil)
		return err
	}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var got []meta.Segment
	for _, g := range garbage {
		got = append(got, g...)
	}
	checkGarbage(t, "all deletes", got, seg)
	checkReferenced(t, b, map[string]bool{seg.Blob: false})
}
