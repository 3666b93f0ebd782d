package metatest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// testCollectObject: the garbage collector's delete of a NAR is refused
// when a narinfo indexed since names it; and a narinfo whose NAR is not
// in the bucket is refused (ErrNARMissing), by each way a narinfo is
// written, when its writer checked the NAR (meta/collected.go).
func testCollectObject(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	rec := checkedNarinfo(nixHash(1), 1)
	nar := rec.URL
	mustPut(t, s, newObject("b", nar))
	mustPut(t, s, narinfoObject("b", rec.Hash, &rec))

	// Claimed by a narinfo indexed since: refused, nothing changed.
	_, err := s.CollectObject(ctx, "b", nar, rec.Created.Add(-time.Second), nil)
	wantErr(t, "CollectObject of a NAR a newer narinfo names", err, meta.ErrPreconditionFailed)
	mustObject(t, s, "b", nar)
	refused := errors.New("refused")
	_, err = s.CollectObject(ctx, "b", nar, rec.Created.Add(time.Second), func(*meta.Object) error { return refused })
	wantErr(t, "CollectObject with a refusing check", err, refused)
	mustObject(t, s, "b", nar)

	// Named only by an older narinfo (the collector saw it): deleted.
	if _, err := s.DeleteObject(ctx, "b", rec.Hash+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	garbage, err := s.CollectObject(ctx, "b", nar, rec.Created.Add(time.Second), nil)
	if err != nil {
		t.Fatalf("CollectObject: %v", err)
	}
	if len(garbage) != 1 {
		t.Errorf("CollectObject garbage = %v, want the NAR's blob", garbage)
	}
	if _, err := s.Object(ctx, "b", nar); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("Object after CollectObject: %v, want ErrNoSuchKey", err)
	}
	if _, err := s.CollectObject(ctx, "b", "nar/never.nar", when, nil); err != nil {
		t.Fatalf("CollectObject of a missing key: %v", err)
	}

	// A narinfo naming the missing NAR, by PutObject (new key, and
	// replacing one, with and without a Check) and CompleteUpload.
	mustPut(t, s, narinfoObject("b", nixHash(2), nil)) // a narinfo without a record, to replace
	for _, put := range []struct {
		name string
		fn   func(r *meta.Narinfo) error
	}{
		{"PutObject", func(r *meta.Narinfo) error {
			_, err := s.PutObject(ctx, narinfoObject("b", r.Hash, r), nil)
			return err
		}},
		{"PutObject with a check", func(r *meta.Narinfo) error {
			_, err := s.PutObject(ctx, narinfoObject("b", r.Hash, r), func(*meta.Object) error { return nil })
			return err
		}},
		{"CompleteUpload", func(r *meta.Narinfo) error {
			u := newUpload("b", r.Hash+".narinfo", fmt.Sprintf("missing-%s", r.Hash))
			mustCreateUpload(t, s, u)
			obj := multipartObject(u, mustPutParts(t, s, u, 1)...)
			obj.Narinfo = r
			_, err := s.CompleteUpload(ctx, u.ID, obj, nil)
			return err
		}},
	} {
		for i, hash := range []string{rec.Hash, nixHash(2)} {
			r := checkedNarinfo(hash, 1) // names nar
			err := put.fn(&r)
			wantErr(t, fmt.Sprintf("%s #%d of a narinfo whose NAR is missing", put.name, i), err, meta.ErrNARMissing)
		}
	}
	checkNarinfo(t, s, "b", rec.Hash, nil)
	mustObject(t, s, "b", nixHash(2)+".narinfo") // left as it was

	// A record whose writer did not check the NAR (a copy, a pull) asks
	// for none, nor does an absolute URL.
	unchecked := newNarinfo(nixHash(3), 1)
	mustPut(t, s, narinfoObject("b", unchecked.Hash, &unchecked))
	elsewhere := checkedNarinfo(nixHash(5), 5)
	elsewhere.URL = "https://cache.example.org/nar/x.nar"
	mustPut(t, s, narinfoObject("b", elsewhere.Hash, &elsewhere))

	// The NAR uploaded again: accepted.
	mustPut(t, s, newObject("b", nar))
	again := checkedNarinfo(nixHash(6), 1)
	mustPut(t, s, narinfoObject("b", again.Hash, &again))
}

// checkedNarinfo is newNarinfo for a record whose writer found its NAR
// (meta.Narinfo.NARChecked).
func checkedNarinfo(hash string, n int) meta.Narinfo {
	r := newNarinfo(hash, n)
	r.NARChecked = true
	return r
}

// testRaceCollectNarinfoShared: the collector's NAR deletes through one
// instance race narinfos naming those NARs through another. Whoever
// wins, no narinfo indexed during the race is left naming a NAR that is
// gone: a lost race costs the push an error (ErrNARMissing) or the
// collector a delete (ErrPreconditionFailed), never the cache a path.
func testRaceCollectNarinfoShared(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	ctx := t.Context()
	mustCreateBucket(t, a, "b")
	const n = 40
	recs := make([]meta.Narinfo, n)
	for i := range recs {
		recs[i] = checkedNarinfo(nixHash(i), i)
		recs[i].Created = time.Now()
		mustPut(t, a, newObject("b", recs[i].URL))
	}
	since := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	putErrs, delErrs := make([]error, n), make([]error, n)
	for i := range recs {
		collect := func() { _, delErrs[i] = a.CollectObject(ctx, "b", recs[i].URL, since, nil) }
		put := func() { _, putErrs[i] = b.PutObject(ctx, narinfoObject("b", recs[i].Hash, &recs[i]), nil) }
		if i%2 == 0 { // either side starts first, so that either may win
			collect, put = put, collect
		}
		wg.Go(collect)
		wg.Go(put)
	}
	wg.Wait()
	won := [2]int{}
	for i, r := range recs {
		if delErrs[i] != nil && !errors.Is(delErrs[i], meta.ErrPreconditionFailed) {
			t.Errorf("CollectObject %d: %v", i, delErrs[i])
		}
		if putErrs[i] != nil && !errors.Is(putErrs[i], meta.ErrNARMissing) {
			t.Errorf("PutObject %d: %v", i, putErrs[i])
		}
		_, narErr := a.Object(ctx, "b", r.URL)
		_, niErr := a.Narinfo(ctx, "b", r.Hash)
		switch {
		case niErr == nil && narErr != nil:
			t.Errorf("path %d: its narinfo was accepted and its NAR is gone (collect: %v)", i, delErrs[i])
		case niErr == nil:
			won[0]++
		case narErr != nil:
			won[1]++
		default:
			t.Errorf("path %d: neither the narinfo (%v) nor the delete (%v) went through", i, putErrs[i], delErrs[i])
		}
	}
	t.Logf("of %d races, %d narinfos kept their NAR, %d NARs were collected first", n, won[0], won[1])
}
