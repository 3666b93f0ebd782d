package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPushRedirected pushes over http:// to a URL whose server redirects
// every request to the cache (a host that moved, or an http:// front that
// sends everything on, as a load balancer may), with each redirect status
// curl follows for a PUT. Nix 2.8 (curl) follows them all, the upload
// staying a PUT with its body; net/http turned a redirected PUT into a GET
// on 301 and 302 (so the push failed with the GET's 404 as "the cache
// does not exist", and a 2xx would have passed for the upload), and did
// not follow 307 or 308 for a body it could not replay. A redirect to
// another host name (localhost for 127.0.0.1) gets that host's netrc line,
// as curl gives it (net/http drops the credentials, and push blamed the
// first host's). Each push must complete, and Nix must then substitute
// the closure from the cache with signatures required.
func TestPushRedirected(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	cache := nixCacheURL(s, nixCacheBucket)
	other := strings.Replace(s.Endpoint, "127.0.0.1", "localhost", 1) // nixNetrc has a line for each
	for _, tc := range []struct {
		code int
		to   string
	}{
		{http.StatusMovedPermanently, s.Endpoint}, {http.StatusFound, s.Endpoint},
		{http.StatusTemporaryRedirect, s.Endpoint}, {http.StatusPermanentRedirect, s.Endpoint},
		{http.StatusTemporaryRedirect, other}, {http.StatusMovedPermanently, other},
	} {
		code := tc.code
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, tc.to+r.URL.RequestURI(), code)
		}))
		defer redirector.Close()
		url := redirector.URL + "/" + nixCacheBucket

		// What Nix does through the same redirects.
		base := nixBuildClosure(t, 1, 1, fmt.Sprintf("push-redirect-nix-%d", code))
		t.Logf("redirected by %d to %s", code, tc.to)
		nixMust(t, "nix", "copy", "--option", "netrc-file", nixNetrc(s), "--to", url, base.Top)

		c := nixBuildClosure(t, 2, 64, fmt.Sprintf("push-redirect-%d", code))
		paths, sum := pushMust(t, pushEnv(t), "--netrc-file", nixNetrc(s), "--to", url, c.Top)
		pushWantAll(t, fmt.Sprintf("push redirected by %d", code), c, paths, sum, "pushed")

		c.delete(t)
		nixMustSubstitute(t, cache, serverKey, nixNetrc(s), c.Top)
		c.checkDumps(t)
	}
}
