package e2e

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestCORS: a bucket's CORS configuration, set, read and deleted with
// boto3, lets a web page on another origin read the cache in a real
// browser (Chromium), and only from the origins and with the methods it
// names; the bucket policy still decides who reads what.
//   - Without a configuration the page's fetch is blocked; with one naming
//     the page's origin it reads the object (and the headers the rule
//     exposes), also with a header that makes the browser send a
//     preflight first; a PUT the rule does not allow is blocked at the
//     preflight; a fetch with the browser's own credentials is blocked
//     (no Allow-Credentials); a page on another origin stays blocked;
//     once deleted, the page is blocked again.
//   - Preflights without an Origin are 400, unmatched ones 403; answers
//     refused by the policy (an anonymous PUT) carry the CORS headers
//     too, so the page can read the refusal.
//   - A bad configuration is refused with S3's error, an anonymous
//     caller may not set one, and GetBucketCors answers
//     NoSuchCORSConfiguration when there is none.
//   - `nixbucket bucket cors set BUCKET public` beside the running server
//     holds from its next request.
func TestCORS(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	t.Parallel()
	s := startServer(t)
	nixAdmin(t, s, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	object := s.Endpoint + "/" + nixCacheBucket + "/hello.txt"
	if r := curlS3(t, s, http.MethodPut, object, "--data-binary", "hello from the cache"); r.Status != http.StatusOK {
		t.Fatalf("PUT hello.txt: %d %s", r.Status, r.Body)
	}

	script, err := filepath.Abs(filepath.Join("testdata", "cors_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	env := s.clientEnv("AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey,
		"NB_ENDPOINT="+s.Endpoint, "NB_BUCKET="+nixCacheBucket)
	if r := runCmd(t, env, "", "python3", "-c", "import boto3"); r.Err != nil {
		skipOrFail(t, "python3 cannot import boto3: "+r.Stderr)
	}
	boto := func(args ...string) string {
		t.Helper()
		r := runCmd(t, env, t.TempDir(), "python3", append([]string{script}, args...)...)
		if r.Err != nil {
			t.Fatalf("cors_client.py %v: %v\n%s", args, r.Err, tail(r.Stderr, 4000))
		}
		return strings.TrimSpace(r.Stdout)
	}

	blank := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>a page elsewhere</title><p>a page elsewhere</p>"))
	})
	page, other := httptest.NewServer(blank), httptest.NewServer(blank)
	defer page.Close()
	defer other.Close()

	br := consoleBrowser(t)
	// fetch runs a fetch in the page and returns "STATUS ETAG BODY", or
	// "blocked" when the browser refused the page the answer.
	fetch := func(opts string) string {
		t.Helper()
		js := `fetch(` + jsString(object) + `, ` + opts + `).then(async r => r.status + " " + (r.headers.get("ETag") ? "etag" : "no-etag") + " " + await r.text(), e => "blocked")`
		v, err := chromedp.Run(br.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("browser: fetch %s: %v", opts, err)
		}
		return v
	}
	// cache: "no-store": each fetch asks the server, rather than
	// revalidating an answer the browser kept with the CORS headers of
	// an earlier configuration.
	const plainGET, preflighted, put = `{cache: "no-store"}`, `{cache: "no-store", headers: {"X-Requested-With": "nixbucket-test"}}`, `{cache: "no-store", method: "PUT", body: "x"}`
	const read = "200 etag hello from the cache"

	if got := boto("get"); !strings.HasPrefix(got, "error 404 NoSuchCORSConfiguration") {
		t.Errorf("GetBucketCors before any: %s", got)
	}
	br.open(page.URL)
	if got := fetch(plainGET); got != "blocked" {
		t.Fatalf("without a configuration the page read %q", got)
	}

	if got := boto("bad"); !strings.HasPrefix(got, "error 400 InvalidRequest") || !strings.Contains(got, "PATCH") {
		t.Errorf("a configuration allowing PATCH: %s", got)
	}
	if got := boto("anonymous", page.URL); !strings.HasPrefix(got, "error 403 AccessDenied") {
		t.Errorf("an anonymous PutBucketCors: %s", got)
	}
	if got := boto("put", page.URL); got != "put ok" {
		t.Fatalf("PutBucketCors: %s", got)
	}
	if got, want := boto("get"), "get page "+page.URL+" GET,HEAD * ETag,x-amz-request-id 60"; got != want {
		t.Errorf("GetBucketCors: %q, want %q", got, want)
	}

	br.open(page.URL)
	if got := fetch(plainGET); got != read {
		t.Errorf("the allowed page's GET: %q, want %q", got, read)
	}
	if got := fetch(preflighted); got != read {
		t.Errorf("the allowed page's GET with a preflight: %q, want %q", got, read)
	}
	if got := fetch(put); got != "blocked" {
		t.Errorf("a PUT the rule does not allow: %q, want blocked", got)
	}
	// Never with the browser's own credentials (no Allow-Credentials):
	// a visitor's Basic login to a private bucket stays the visitor's.
	if got := fetch(`{cache: "no-store", credentials: "include"}`); got != "blocked" {
		t.Errorf("a fetch with the browser's credentials: %q, want blocked", got)
	}
	br.open(other.URL)
	if got := fetch(plainGET); got != "blocked" {
		t.Errorf("a page on another origin read %q", got)
	}

	// The answers, seen with curl.
	origin := "Origin: " + page.URL
	if r := nixHTTP(t, "", http.MethodOptions, object); r.Status != http.StatusBadRequest {
		t.Errorf("OPTIONS without Origin: %d, want 400", r.Status)
	}
	if r := nixHTTP(t, "", http.MethodOptions, object, "-H", origin, "-H", "Access-Control-Request-Method: DELETE"); r.Status != http.StatusForbidden ||
		r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("OPTIONS for a DELETE: %d %v, want 403 without CORS headers", r.Status, r.Header)
	}
	r := nixHTTP(t, "", http.MethodOptions, object, "-H", origin, "-H", "Access-Control-Request-Method: GET",
		"-H", "Access-Control-Request-Headers: x-requested-with, range")
	if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != page.URL || r.Header.Get("Access-Control-Allow-Methods") != "GET, HEAD" ||
		r.Header.Get("Access-Control-Allow-Headers") != "x-requested-with, range" || r.Header.Get("Access-Control-Max-Age") != "60" ||
		r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("OPTIONS for a GET: %d %v", r.Status, r.Header)
	}
	r = nixHTTP(t, "", http.MethodPut, object, "-H", origin, "-H", "Access-Control-Request-Method: GET", "--data-binary", "x")
	if r.Status != http.StatusForbidden || r.Header.Get("Access-Control-Allow-Origin") != page.URL {
		t.Errorf("an anonymous PUT from the page's origin: %d %v, want 403 with its CORS headers", r.Status, r.Header)
	}
	r = nixHTTP(t, "", http.MethodGet, object, "-H", "Origin: https://elsewhere.example")
	if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Errorf("a GET from an origin not allowed: %d %v, want 200 without CORS headers, with Vary", r.Status, r.Header)
	}
	// Without an Origin too (a navigation, nix): a cache, the browser's
	// own among them, must not answer a page's fetch with this answer,
	// which lacks the CORS headers (Fetch, "CORS protocol and HTTP caches").
	r = nixHTTP(t, "", http.MethodGet, object)
	if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Errorf("a GET without an Origin: %d %v, want 200 without CORS headers, with Vary", r.Status, r.Header)
	}

	if got := boto("delete"); got != "delete ok" {
		t.Fatalf("DeleteBucketCors: %s", got)
	}
	br.open(page.URL)
	if got := fetch(plainGET); got != "blocked" {
		t.Errorf("after DeleteBucketCors the page read %q", got)
	}
	if got := boto("get"); !strings.HasPrefix(got, "error 404 NoSuchCORSConfiguration") {
		t.Errorf("GetBucketCors after the delete: %s", got)
	}

	// The admin CLI beside the running server: its public preset holds
	// from the server's next request, and boto3 reads it back.
	nixAdmin(t, s, "bucket", "cors", "set", nixCacheBucket, "public")
	if r := nixHTTP(t, "", http.MethodGet, object, "-H", "Origin: https://anywhere.example"); r.Status != http.StatusOK ||
		r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("after nixbucket bucket cors set public: %d %v", r.Status, r.Header)
	}
	if got := boto("get"); !strings.HasPrefix(got, "get public-read * GET,HEAD") {
		t.Errorf("GetBucketCors of the public preset: %s", got)
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
