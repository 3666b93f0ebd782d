package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRunGets: runGets follows a 307 to another server without the first
// request's Authorization (as a presigned URL needs), reads every body in
// full, counts one request per redirect and its target, and counts a body
// of another length than expected as an error, not a request.
func TestRunGets(t *testing.T) {
	const size = 300 << 10
	body := bytes.Repeat([]byte("n"), size)
	store := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "two signatures", http.StatusBadRequest)
			return
		}
		w.Write(body)
	}))
	defer store.Close()
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Basic x" {
			http.Error(w, "no credentials", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, store.URL+"/blob?X-Amz-Signature=s", http.StatusTemporaryRedirect)
	}))
	defer node.Close()

	l := runGets(context.Background(), getOptions{url: node.URL + "/nar/x.nar", conns: 3, duration: 200 * time.Millisecond, size: size, auth: "Basic x"})
	if l.firstErr != nil || l.errors != 0 || l.non2xx != 0 {
		t.Fatalf("errors %d, non-2xx %d, first error %v", l.errors, l.non2xx, l.firstErr)
	}
	if l.requests == 0 || l.redirects != l.requests || l.bytes != l.requests*size {
		t.Errorf("%d requests, %d redirects, %d bytes; want as many redirects as requests, %d bytes each", l.requests, l.redirects, l.bytes, size)
	}

	short := runGets(context.Background(), getOptions{url: node.URL + "/nar/x.nar", conns: 1, duration: 50 * time.Millisecond, size: size + 1, auth: "Basic x"})
	if short.requests != 0 || short.errors == 0 {
		t.Errorf("bodies one byte short of -size: %d requests, %d errors; want 0 requests and errors", short.requests, short.errors)
	}
	denied := runGets(context.Background(), getOptions{url: node.URL + "/nar/x.nar", conns: 1, duration: 50 * time.Millisecond, size: size})
	if denied.non2xx == 0 || denied.non2xx != denied.requests || denied.errors != 0 {
		t.Errorf("without credentials: %d requests, %d non-2xx, %d errors; want every request non-2xx", denied.requests, denied.non2xx, denied.errors)
	}
}
