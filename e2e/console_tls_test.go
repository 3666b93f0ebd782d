package e2e

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleCookieOverTLS: served over HTTPS (serve --tls-cert), the
// console's cookies are Secure as well as HttpOnly and SameSite=Strict:
// the visitor's session the sign-in page makes (a GET, which the fast
// lane may answer) and the signed-in session (a POST), over HTTP/1.1 and
// HTTP/2, with the fast lane on and off. curl trusts only the test's CA.
func TestConsoleCookieOverTLS(t *testing.T) {
	t.Parallel()
	// Subtests named without "=": curl takes a -b argument holding one
	// (a cookie jar in the test's temp dir) for a cookie, not a file.
	for name, lane := range map[string]string{"FastLane": "--fastlane=true", "NetHTTP": "--fastlane=false"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startTLSServer(t, lane)
			ui := s.Endpoint + "/-/ui/"
			for _, proto := range []string{"--http1.1", "--http2"} {
				jar := filepath.Join(t.TempDir(), "jar")
				tlsArgs := []string{proto, "--cacert", s.CA.CertFile}
				login := nixHTTP(t, "", http.MethodGet, ui+"login", append(tlsArgs, "-c", jar)...)
				if login.Status != http.StatusOK {
					t.Fatalf("%s GET login: %d", proto, login.Status)
				}
				checkConsoleCookie(t, proto+" sign-in page", login.Header, true)
				form := url.Values{"csrf": {csrfOf(t, login.Body)}, "key_id": {s.AccessKey}, "secret": {s.SecretKey}}
				r := postForm(t, ui+"login", jar, form, tlsArgs...)
				if r.Status != http.StatusSeeOther {
					t.Fatalf("%s sign in: %d %s", proto, r.Status, r.Body)
				}
				checkConsoleCookie(t, proto+" sign in", r.Header, true)
				page := nixHTTP(t, "", http.MethodGet, ui, append(tlsArgs, "-b", jar)...)
				if !strings.Contains(page.Body, "Signed in as") {
					t.Errorf("%s: the Secure session cookie did not sign the admin in:\n%s", proto, tail(page.Body, 2000))
				}
			}
		})
	}
}

// checkConsoleCookie checks the console's session cookie among an
// answer's Set-Cookie headers: HttpOnly, SameSite=Strict, limited to
// /-/ui/, and Secure exactly when secure.
func checkConsoleCookie(t *testing.T, what string, h http.Header, secure bool) {
	t.Helper()
	var found bool
	for _, line := range h.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			t.Errorf("%s: Set-Cookie %q: %v", what, line, err)
			continue
		}
		if ck.Name != "nixbucket_console" {
			continue
		}
		found = true
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != secure || ck.Path != "/-/ui/" {
			t.Errorf("%s: session cookie %q: want HttpOnly, SameSite=Strict, Path=/-/ui/, Secure %v", what, line, secure)
		}
	}
	if !found {
		t.Errorf("%s: no session cookie in %q", what, h.Values("Set-Cookie"))
	}
}
