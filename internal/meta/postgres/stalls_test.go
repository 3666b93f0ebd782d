package postgres

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/stall"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestStalledDatabaseBounded: with PostgreSQL stalled (a proxy holding
// every byte, as a paused or partitioned server), a read and a write made
// for a request with a bound (stall.Bound) fail instead of waiting, with
// errors Unreachable takes for the database's; a write that got such an
// error is either all there or not at all once the database answers
// again; calls without a bound (background jobs) wait, and succeed then;
// and the store serves bounded calls again without a reopen.
func TestStalledDatabaseBounded(t *testing.T) {
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	s := openAt(t, u.String())
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	obj := func(key string) meta.Object {
		return meta.Object{Bucket: "b", Key: key, Size: 2, ETag: "e", Modified: time.Now().UTC(),
			Segments: []meta.Segment{{Size: 2, Data: []byte("hi")}}}
	}
	if _, err := s.PutObject(t.Context(), obj("before"), nil); err != nil {
		t.Fatal(err)
	}

	proxy.Stall(true)
	ctx := stall.WithBound(t.Context(), 200*time.Millisecond)
	want := func(what string, err error) {
		t.Helper()
		if err == nil || !s.Unreachable(err) {
			t.Errorf("%s on a stalled database: %v, want an error Unreachable takes", what, err)
		}
	}
	_, err = s.Object(ctx, "b", "before")
	want("Object", err)
	_, err = s.PutObject(ctx, obj("stalled"), nil)
	want("PutObject", err)
	// More bounded calls than the pool has connections: those waiting
	// for one are bounded too.
	errs := make(chan error, 12)
	for range cap(errs) {
		go func() {
			_, err := s.Buckets(ctx)
			errs <- err
		}()
	}
	for range cap(errs) {
		want("Buckets", <-errs)
	}
	unbounded := make(chan error, 1)
	go func() {
		_, err := s.Object(t.Context(), "b", "before")
		unbounded <- err
	}()
	select {
	case err := <-unbounded:
		t.Errorf("a call without a bound ended while the database stalled: %v", err)
	case <-time.After(time.Second):
	}
	proxy.Stall(false)
	if err := <-unbounded; err != nil {
		t.Errorf("a call without a bound, once the database answers again: %v", err)
	}

	// Bounded again, but by more than a loaded machine ever takes to answer.
	ctx = stall.WithBound(t.Context(), 10*time.Second)
	if _, err := s.Object(ctx, "b", "before"); err != nil {
		t.Errorf("Object once the database answers again: %v", err)
	}
	if _, err := s.PutObject(ctx, obj("after"), nil); err != nil {
		t.Errorf("PutObject once the database answers again: %v", err)
	}
	got, err := s.Object(ctx, "b", "stalled")
	if err != nil && !errors.Is(err, meta.ErrNoSuchKey) || err == nil && string(got.Segments[0].Data) != "hi" {
		t.Errorf("the write that failed during the stall: %+v, %v; want it all there or not at all", got, err)
	}
}
