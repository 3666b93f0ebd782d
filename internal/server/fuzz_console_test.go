package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/console"
	"github.com/nixbucket/nixbucket/internal/server"
)

// consoleOps are the console's forms and the pages that read a query or
// a path: {arg} is the fuzzer's string, in the path or the query.
var consoleOps = []struct{ method, target string }{
	{"POST", "/-/ui/login"},              // sign-in: key_id, secret, token
	{"POST", "/-/ui/buckets"},            // create a bucket: name
	{"POST", "/-/ui/b/nix-cache/policy"}, // the bucket's policy: policy (JSON)
	{"POST", "/-/ui/b/{arg}/policy"},
	{"POST", "/-/ui/b/nix-cache/keys"}, // a key for the bucket: user, days, policy
	{"POST", "/-/ui/tokens"},           // a token: user, days, policy
	{"POST", "/-/ui/tokens/{arg}/revoke"},
	{"GET", "/-/ui/b/{arg}"},
	{"GET", "/-/ui/b/nix-cache?{arg}"},
	{"GET", "/-/ui/b/nix-cache/p/{arg}"},
	{"GET", "/-/ui/b/nix-cache/p/0123456789abcdfghijklmnpqrsvwxyz?{arg}"},
	{"GET", "/-/ui/b/nix-cache/file/{arg}"},
	{"GET", "/-/ui/traffic?{arg}"},
	{"GET", "/-/ui/tokens"}, // with the fuzzer's string as the session cookie
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// FuzzConsoleForms posts any form bodies to the web console's forms, as
// the admin signed in with the form's CSRF token (so that each form is
// really read and acted on), and sends any path or query to its pages.
// None may panic or answer with a server error. And a session cookie the
// console did not issue never signs anyone in: with the fuzzer's string
// as its cookie, the admin's token page is refused unless it is the
// admin's cookie.
func FuzzConsoleForms(f *testing.F) {
	for _, s := range []struct {
		op        uint8
		arg, body string
	}{
		{0, "", "key_id=NBKEY&secret=x"},
		{0, "", "token=nbt_abc_def"},
		{1, "", "name=fuzz-bucket"},
		{1, "", "name=" + strings.Repeat("a", 64)},
		{2, "", "policy=" + url.QueryEscape(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::nix-cache/*"}]}`)},
		{2, "", "anonymous-read=on&policy="},
		{3, "no-such-bucket", "policy=%7B%7D"},
		{4, "", "user=alice&days=30"},
		{4, "", "user=bob&days=-1&policy=" + url.QueryEscape(`{"Statement":[]}`)},
		{5, "", "user=carol&days=99999999999999999999"},
		{6, "abcdefghijkl", ""},
		{7, "nix-cache", ""},
		{8, "prefix=nar/&after=x", ""},
		{9, "0123456789abcdfghijklmnpqrsvwxyz", ""},
		{10, "dir=bin/../..", ""},
		{11, "nar/../../etc/passwd", ""},
		{12, "bucket=nix-cache&days=400", ""},
		{13, "e30.AAAA", ""},
	} {
		f.Add(s.op, s.arg, s.body)
	}
	srv, err := server.Open(context.Background(), server.Options{Data: f.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	send := func(method, target, cookie, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if method == "POST" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != "" {
			r.Header.Set("Cookie", console.CookieName+"="+cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// sessionOf returns the cookie an answer sets and the CSRF token of
	// the page it shows.
	sessionOf := func(w *httptest.ResponseRecorder) (cookie, csrf string) {
		for _, c := range w.Result().Cookies() {
			if c.Name == console.CookieName {
				cookie = c.Value
			}
		}
		if m := csrfField.FindStringSubmatch(w.Body.String()); m != nil {
			csrf = m[1]
		}
		return cookie, csrf
	}
	anonCookie, anonCSRF := sessionOf(send("GET", "/-/ui/login", "", ""))
	if anonCookie == "" || anonCSRF == "" {
		f.Fatal("the sign-in form set no session or showed no CSRF token")
	}
	signIn := url.Values{"csrf": {anonCSRF}, "key_id": {srv.Root.ID}, "secret": {srv.Root.Secret}}
	w := send("POST", "/-/ui/login", anonCookie, signIn.Encode())
	adminCookie, _ := sessionOf(w)
	if w.Code != http.StatusSeeOther || adminCookie == "" {
		f.Fatalf("signing in as the admin: %d, cookie %q", w.Code, adminCookie)
	}
	_, adminCSRF := sessionOf(send("GET", "/-/ui/tokens", adminCookie, ""))
	if adminCSRF == "" {
		f.Fatal("the admin's token page showed no CSRF token")
	}

	f.Fuzz(func(t *testing.T, op uint8, arg, body string) {
		o := consoleOps[int(op)%len(consoleOps)]
		target := o.target
		if strings.Contains(target, "?{arg}") {
			// (A query a client could not send: httptest.NewRequest
			// panics on control characters.)
			if strings.IndexFunc(arg, func(r rune) bool { return r <= ' ' || r == '#' || r == 0x7f }) >= 0 {
				return
			}
			target = strings.Replace(target, "{arg}", arg, 1)
		} else {
			target = strings.Replace(target, "{arg}", url.PathEscape(arg), 1)
		}
		cookie, csrf := adminCookie, adminCSRF
		if o.target == "/-/ui/login" {
			cookie, csrf = anonCookie, anonCSRF // signing in starts anonymous
		}
		if o.target == "/-/ui/tokens" && o.method == "GET" {
			if strings.ContainsAny(arg, ";\" \t\r\n\x00,\\") {
				return // not one cookie value
			}
			w := send("GET", target, arg, "")
			if w.Code == http.StatusOK && arg != adminCookie {
				t.Fatalf("cookie %q, not the admin's, shows the admin's tokens", arg)
			}
			return
		}
		if o.method == "POST" {
			body = "csrf=" + url.QueryEscape(csrf) + "&" + body
		}
		w := send(o.method, target, cookie, body)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s (%q): %d %s", o.method, target, body, w.Code, w.Body.String())
		}
	})
}
