package console

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// lookupCounter counts the queries of the narinfo index by hash.
type lookupCounter struct {
	meta.Store
	queries atomic.Int64
}

func (s *lookupCounter) Narinfo(ctx context.Context, bucket, hash string) (meta.Narinfo, error) {
	s.queries.Add(1)
	return s.Store.Narinfo(ctx, bucket, hash)
}

func (s *lookupCounter) Narinfos(ctx context.Context, bucket string, hashes []string) ([]meta.Narinfo, error) {
	s.queries.Add(1)
	return s.Store.Narinfos(ctx, bucket, hashes)
}

// TestWideClosureFewQueries: the store path page of a path with thousands
// of references, viewed by an anonymous visitor of a public bucket (who
// may not list it, so no graph of the bucket is loaded for them), walks
// the closure a level at a time in batches. It made one query per path:
// 10,000 references took 2 to 3.5 s per view on PostgreSQL.
func TestWideClosureFewQueries(t *testing.T) {
	ctx := context.Background()
	st, svc := graphStore(t, "pub")
	put := func(key, body string) {
		t.Helper()
		if _, err := svc.Put(ctx, objects.PutInput{Bucket: "pub", Key: key, Body: bytes.NewReader([]byte(body)), Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 2500
	var refs []string
	for i := range n {
		h := fmt.Sprintf("%032d", i)
		put(h+".narinfo", "")
		refs = append(refs, h)
	}
	top := hashOf('z')
	missing := hashOf('m') // referred to, not in the bucket
	put(top+".narinfo", strings.Join(append(refs, missing), " "))

	store := &lookupCounter{Store: st}
	h := publicHandler(t, st, store, svc)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, Prefix+"b/pub/p/"+top, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET the path page: %d\n%s", w.Code, w.Body)
	}
	body := w.Body.String()
	if want := fmt.Sprintf(`<dd id="closure-paths">%d</dd>`, n+1); !strings.Contains(body, want) {
		t.Errorf("the page lacks %s", want)
	}
	if !strings.Contains(body, "References not in this bucket: "+missing+"-p") {
		t.Error("the page does not say which reference the bucket lacks")
	}
	if q, most := store.queries.Load(), int64(2+(n+1+lookupBatch-1)/lookupBatch); q > most {
		t.Errorf("the page made %d queries of the narinfo index, want at most %d", q, most)
	}
}

// publicHandler returns a console over store (st, maybe wrapped) and svc
// in which anyone may read the objects of bucket pub.
func publicHandler(t *testing.T, st meta.Store, store meta.Store, svc *objects.Service) *Handler {
	t.Helper()
	acc := access.New(st, access.Options{})
	if err := acc.SetBucketPolicy(t.Context(), "pub", []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}]}`)); err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{Store: store, Access: acc, Objects: svc, Key: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
