package target

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

// flaky answers the first fails requests for a key with status, then
// serves a tiny S3-compatible bucket: PUT stores nothing, GET answers "ok".
type flaky struct {
	status   int
	fails    atomic.Int64
	requests atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead && r.URL.Path == "/bkt" { // the S3 target's bucket check
		return
	}
	f.requests.Add(1)
	if f.fails.Add(-1) >= 0 {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(f.status)
		fmt.Fprintf(w, "<Error><Code>Status%d</Code><Message>try again</Message></Error>", f.status)
		return
	}
	w.Header().Set("ETag", `"e"`)
	if r.Method == http.MethodGet {
		w.Write([]byte("ok"))
	}
}

// TestOneRetryPolicy: every way push sends a request (the HTTP target, a
// direct S3 PUT, a request through the AWS SDK) retries 408, 429 and 5xx
// answers, and none retries a 400.
func TestOneRetryPolicy(t *testing.T) {
	defer func(d time.Duration) { baseBackoff = d }(baseBackoff)
	baseBackoff = time.Millisecond
	testKeys(t)
	ctx := context.Background()
	paths := []struct {
		name string
		url  func(srv string) string
		call func(Target) error
	}{
		{"http put", func(srv string) string { return srv + "/bkt" }, func(tg Target) error {
			return tg.Put(ctx, "x.narinfo", spool.FromBytes([]byte("x")), Meta{ContentType: "text/x-nix-narinfo"})
		}},
		{"s3 direct put", func(srv string) string { return "s3://bkt?region=us-east-1&endpoint=" + srv }, func(tg Target) error {
			return tg.Put(ctx, "x.narinfo", spool.FromBytes([]byte("x")), Meta{ContentType: "text/x-nix-narinfo"})
		}},
		{"s3 sdk get", func(srv string) string { return "s3://bkt?region=us-east-1&endpoint=" + srv }, func(tg Target) error {
			_, err := tg.Get(ctx, "nix-cache-info")
			return err
		}},
	}
	for _, p := range paths {
		for _, status := range []int{408, 429, 500, 503, 400} {
			t.Run(fmt.Sprintf("%s %d", p.name, status), func(t *testing.T) {
				f := &flaky{status: status}
				f.fails.Store(2)
				srv := httptest.NewServer(f)
				defer srv.Close()
				store, err := storeurl.Parse(p.url(srv.URL))
				if err != nil {
					t.Fatal(err)
				}
				tg, err := Open(ctx, store, Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer tg.Close()
				err = p.call(tg)
				if status == 400 {
					if err == nil || f.requests.Load() != 1 {
						t.Errorf("400: %v after %d requests, want an error after 1", err, f.requests.Load())
					}
					return
				}
				if err != nil || f.requests.Load() != 3 {
					t.Errorf("%v after %d requests, want success on the 3rd", err, f.requests.Load())
				}
				if err != nil && !strings.Contains(err.Error(), fmt.Sprint(status)) {
					t.Errorf("error does not name the status: %v", err)
				}
			})
		}
	}
}
