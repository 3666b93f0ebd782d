package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/lifecycle"
)

// TestLifecycleNamedWindowFollowsPages: a sweep expiring many objects
// looks again, before each page of them, for narinfos pushed since it
// last looked, keeps the objects those name as their NAR, and has each
// delete's transaction judge only the narinfos pushed since that look (a
// minute before): not every narinfo pushed since the sweep began, which
// each delete of a long sweep on a cache taking pushes would scan again.
// A narinfo pushed in the middle of the sweep keeps its NAR.
func TestLifecycleNamedWindowFollowsPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("expwin")
	e.expireTmp(t, b)
	const n = 250 // three pages
	for i := range n {
		e.put(b, "tmp/f"+strconv.Itoa(i), []byte("scratch "+strconv.Itoa(i)))
	}
	const hash = "1c9glqcqcmasc3ppv1w2wyzv1wdv9n9s"
	url, ni := narUnder(e, b, "tmp/zz-", data(12, 4096), hash) // after every tmp/f…: the last page

	lc := e.srv.Lifecycle()
	at := time.Now().Add(3 * day)
	lc.Now = func() time.Time { return at }
	rec := &expireRecorder{Objects: lc.Objects}
	rec.before = func(calls int) {
		if calls == n/2 { // the push, in the middle of the sweep
			e.put(b, hash+".narinfo", []byte(ni.String()))
		}
	}
	lc.Objects = rec
	if _, err := lc.Sweep(ctx(t)); err != nil {
		t.Fatalf("lifecycle sweep: %v", err)
	}
	if got := strings.Join(e.keys(t, b), " "); got != hash+".narinfo "+url {
		t.Errorf("keys after the sweep: %s, want the narinfo pushed meanwhile and its NAR", got)
	}
	if len(rec.calls) < n {
		t.Fatalf("%d expiries, want %d", len(rec.calls), n)
	}
	first, last := rec.calls[0], rec.calls[len(rec.calls)-1]
	if !last.named.After(first.at.Add(-time.Minute)) {
		t.Errorf("the last page's deletes judge narinfos pushed since %v, before the sweep's first delete (%v) less a minute: the window never moved",
			last.named, first.at)
	}
}

// expireRecorder records each Expire's time and window, calling before
// first with how many came before.
type expireRecorder struct {
	lifecycle.Objects
	before func(calls int)
	calls  []struct{ at, named time.Time }
}

func (r *expireRecorder) Expire(ctx context.Context, bucket, key string, cutoff, named time.Time) (bool, int64, error) {
	r.before(len(r.calls))
	r.calls = append(r.calls, struct{ at, named time.Time }{time.Now(), named})
	return r.Objects.Expire(ctx, bucket, key, cutoff, named)
}
