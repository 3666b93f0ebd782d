package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/fastlane"
	"github.com/nixbucket/nixbucket/internal/server"
)

// TestKeysEndpoint: GET /-/keys/BUCKET gives the bucket's public keys to
// whoever may read its nix-cache-info, and to anyone else exactly the
// answer nix-cache-info gives them: an anonymous caller cannot tell a
// private bucket from a missing one.
func TestKeysEndpoint(t *testing.T) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Options{Data: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener = fastlane.NewListener(ts.Listener, srv.Handler(), fastlane.Options{})
	ts.Start()
	defer ts.Close()
	if err := srv.Objects().CreateBucket(ctx, "keyless"); err != nil {
		t.Fatal(err)
	}
	// Every new bucket gets a key; take it away, as `bucket key remove` does.
	if err := srv.Meta().RemoveSigningKey(ctx, "keyless", "keyless-1"); err != nil {
		t.Fatal(err)
	}
	keys, err := binarycache.PublicKeys(ctx, srv.Meta(), server.DefaultCache)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys of %s: %v, %v", server.DefaultCache, keys, err)
	}
	get := func(path string, root bool, headers ...string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		if root {
			req.SetBasicAuth(srv.Root.ID, srv.Root.Secret)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	requestID := regexp.MustCompile(`<RequestId>[^<]*</RequestId>`)
	same := func(what, keysPath, infoPath string, root bool) int {
		t.Helper()
		ks, kb, kh := get(keysPath, root)
		is, ib, ih := get(infoPath, root)
		kb, ib = requestID.ReplaceAllString(kb, ""), requestID.ReplaceAllString(ib, "")
		if ks != is || kb != ib || kh.Get("WWW-Authenticate") != ih.Get("WWW-Authenticate") {
			t.Errorf("%s: %s = %d %q (WWW-Authenticate %q), want what %s gives: %d %q (%q)",
				what, keysPath, ks, kb, kh.Get("WWW-Authenticate"), infoPath, is, ib, ih.Get("WWW-Authenticate"))
		}
		return ks
	}

	// Anonymous, private bucket and missing bucket: the same refusal.
	if st := same("anonymous, private", "/-/keys/nix-cache", "/nix-cache/nix-cache-info", false); st != http.StatusUnauthorized {
		t.Errorf("anonymous /-/keys/nix-cache: %d, want 401", st)
	}
	same("anonymous, missing", "/-/keys/no-such-bucket", "/no-such-bucket/nix-cache-info", false)
	_, privBody, _ := get("/-/keys/nix-cache", false)
	_, missBody, _ := get("/-/keys/no-such-bucket", false)
	if requestID.ReplaceAllString(privBody, "") != requestID.ReplaceAllString(missBody, "") {
		t.Errorf("anonymous callers tell a private bucket (%q) from a missing one (%q)", privBody, missBody)
	}

	// With credentials: the keys, a 404, an empty list.
	if st, body, h := get("/-/keys/nix-cache", true); st != 200 || body != keys[0]+"\n" || h.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("root /-/keys/nix-cache: %d %q (%s), want 200 %q", st, body, h.Get("Content-Type"), keys[0]+"\n")
	}
	if st, body, _ := get("/-/keys/nix-cache", true, "Range", "bytes=0-3", "If-None-Match", "*"); st != 200 || body != keys[0]+"\n" {
		t.Errorf("root /-/keys/nix-cache with Range and If-None-Match: %d %q, want the whole list", st, body)
	}
	if st, body, _ := get("/-/keys/no-such-bucket", true); st != http.StatusNotFound {
		t.Errorf("root /-/keys/no-such-bucket: %d %q, want 404", st, body)
	}
	if st, body, _ := get("/-/keys/keyless", true); st != 200 || body != "" {
		t.Errorf("root /-/keys/keyless: %d %q, want 200 and no keys", st, body)
	}
	// A bucket holding its own nix-cache-info: a Range or a condition
	// meant for the keys does not turn the probe into a 206 or a 304.
	put, _ := http.NewRequest(http.MethodPut, ts.URL+"/keyless/nix-cache-info", strings.NewReader("StoreDir: /nix/store\n"))
	put.SetBasicAuth(srv.Root.ID, srv.Root.Secret)
	if resp, err := ts.Client().Do(put); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT nix-cache-info: %v %v", resp, err)
	}
	for _, h := range [][]string{{"Range", "bytes=0-3"}, {"If-None-Match", "*"}, {"If-Modified-Since", time.Now().UTC().Format(http.TimeFormat)}} {
		if st, body, _ := get("/-/keys/keyless", true, h...); st != 200 || body != "" {
			t.Errorf("root /-/keys/keyless with %s: %d %q, want 200 and no keys", h[0], st, body)
		}
	}

	// Anonymous read granted: anonymous callers get the keys.
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, server.DefaultCache)
	if err := srv.Access().SetBucketPolicy(ctx, server.DefaultCache, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	if st, body, _ := get("/-/keys/nix-cache", false); st != 200 || body != keys[0]+"\n" {
		t.Errorf("anonymous /-/keys/nix-cache of a public cache: %d %q, want 200 %q", st, body, keys[0]+"\n")
	}
}
