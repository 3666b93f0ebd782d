package server_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestNotACacheBodyFits: however many buckets there are, the 400 a
// binary-cache client gets at the root stays under the 1,024 bytes Nix
// prints, names caches, and says there are more.
func TestNotACacheBodyFits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for range 40 {
		e.bucket(strings.Repeat("long-bucket-name-", 3))
	}
	r, err := http.NewRequest(http.MethodGet, e.ts.URL+"/nix-cache-info", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(e.id, e.secret)
	r.Header.Set("User-Agent", "curl/8.5.0 Nix/2.8.0")
	st, h, body := e.do(r)
	if st != http.StatusBadRequest || h.Get("X-Nixbucket-Error") != "XNixbucketNotACache" {
		t.Fatalf("GET /nix-cache-info: %d %s %q, want 400 XNixbucketNotACache", st, h.Get("X-Nixbucket-Error"), body)
	}
	if len(body) >= 1024 || !strings.Contains(string(body), e.ts.URL+"/long-bucket-name-") || !strings.HasSuffix(strings.TrimSpace(string(body)), "(and maybe more)") {
		t.Errorf("body of %d bytes, want under 1024, naming a bucket, and saying there are more:\n%s", len(body), body)
	}
}
