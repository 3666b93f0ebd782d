package s3api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// TestTrickledXMLBodyBoundedInTime: a body sent a byte at a time, each
// well within the idle deadline, is cut off once the whole-body limit
// passes, whether the limit finds the reader between reads or blocked in
// one.
func TestTrickledXMLBodyBoundedInTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tb := newTimedBody(w, r.Body, 300*time.Millisecond)
		n, err := io.Copy(io.Discard, tb)
		tb.stop()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.Header().Set("X-Outcome", "timeout")
		case err != nil:
			w.Header().Set("X-Outcome", "error: "+err.Error())
		default:
			w.Header().Set("X-Outcome", "read "+strings.Repeat("x", int(n)))
		}
	}))
	defer srv.Close()

	for _, gap := range []time.Duration{10 * time.Millisecond, 2 * time.Second} {
		c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pr, pw := io.Pipe()
		go func() {
			for c.Err() == nil {
				if _, err := pw.Write([]byte("<")); err != nil {
					return
				}
				select {
				case <-time.After(gap):
				case <-c.Done():
				}
			}
			pw.CloseWithError(c.Err())
		}()
		req, _ := http.NewRequestWithContext(c, http.MethodPost, srv.URL, pr)
		req.ContentLength = 4 << 20
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("gap %v: %v (the body was read until the client gave up)", gap, err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("X-Outcome"); got != "timeout" {
			t.Errorf("gap %v: outcome %q, want timeout", gap, got)
		}
		cancel()
	}

	// A body sent at once is read whole.
	resp, err := http.Post(srv.URL, "application/xml", strings.NewReader("xxx"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Outcome"); got != "read xxx" {
		t.Errorf("prompt body: %q", got)
	}
}
