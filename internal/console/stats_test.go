package console

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// statsCounter counts the store's CacheStats calls.
type statsCounter struct {
	meta.Store
	calls atomic.Int64
}

func (s *statsCounter) CacheStats(ctx context.Context, bucket string) (meta.CacheStats, error) {
	s.calls.Add(1)
	return s.Store.CacheStats(ctx, bucket)
}

// TestStatsKept: the buckets page and a bucket page count a bucket's
// paths once while it does not change, not once per view (a count and
// sum over its whole index, 0.4 to 0.8 s for a million paths on
// PostgreSQL), and a push shows on the next view.
func TestStatsKept(t *testing.T) {
	ctx := context.Background()
	st, svc := graphStore(t, "pub")
	put := func(key, body string) {
		t.Helper()
		if _, err := svc.Put(ctx, objects.PutInput{Bucket: "pub", Key: key, Body: bytes.NewReader([]byte(body)), Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	put(hashOf('a')+".narinfo", "")
	store := &statsCounter{Store: st}
	h := publicHandler(t, st, store, svc)
	view := func(page, want string) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, Prefix+page, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("GET %s: %d, want 200 with %s in\n%s", page, w.Code, want, w.Body)
		}
	}
	for range 3 {
		view("", `data-label="Paths">1<`)
		view("b/pub", `<dd id="paths">1<`)
	}
	if n := store.calls.Load(); n != 1 {
		t.Errorf("6 views of an unchanged bucket counted its paths %d times, want once", n)
	}
	put(hashOf('b')+".narinfo", "")
	view("b/pub", `<dd id="paths">2<`)
	view("", `data-label="Paths">2<`)
	if n := store.calls.Load(); n != 2 {
		t.Errorf("after a push, %d counts in all, want 2", n)
	}
}
