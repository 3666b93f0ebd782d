package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBehindNginxForwarded: nginx running contrib/nginx/nixbucket.conf on
// the same machine forwards every client from loopback.
//   - The metrics, served to loopback callers without credentials, are
//     not served to strangers through it (they were: a request through a
//     local proxy looked local).
//   - Without --trusted-proxies a node ignores X-Forwarded-For: an
//     aws:SourceIp condition sees nginx's address.
//   - With --trusted-proxies 127.0.0.1 (nginx's address as the nodes see
//     it), the client's address (curl bound to 127.0.0.2) decides
//     aws:SourceIp and is the access log's remote, and what the client
//     wrote into X-Forwarded-For itself is not believed; a peer that is
//     not a trusted proxy cannot claim an address with the header.
//   - The same with RFC 7239's Forwarded: a trusted proxy's for= names
//     the client, an untrusted peer's is ignored, and one a client sends
//     through nginx (which passes it on and adds X-Forwarded-For, which
//     wins) is not believed.
//   - The console's cookie is Secure when a trusted proxy says the client
//     came over https (X-Forwarded-Proto), and only then.
func TestBehindNginxForwarded(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	t.Parallel()
	ngx := need(t, "nginx")
	plain := startServer(t)
	trusting := startServerArgs(t, t.TempDir(), "http", "--trusted-proxies", "127.0.0.1")
	policy := filepath.Join(t.TempDir(), "from-127.0.0.2.json")
	if err := os.WriteFile(policy, []byte(`{"Version": "2012-10-17", "Statement": [{
		"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
		"Resource": "arn:aws:s3:::nix-cache/*",
		"Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.2/32"}}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Server{plain, trusting} {
		nixAdmin(t, s, "bucket", "policy", "set", nixCacheBucket, policy)
	}
	viaPlain, viaTrusting := startNginx(t, ngx, plain.Addr), startNginx(t, ngx, trusting.Addr)

	get := func(what, url, from string, header ...string) curlResponse {
		t.Helper()
		args := []string{"--interface", from}
		for _, h := range header {
			args = append(args, "-H", h)
		}
		r := nixHTTP(t, "", http.MethodGet, url, args...)
		t.Logf("%s: %d", what, r.Status)
		return r
	}
	info := "/" + nixCacheBucket + "/nix-cache-info"
	for _, c := range []struct {
		what, url, from string
		header          []string
		want            int
	}{
		{"metrics, directly from loopback", plain.Endpoint + "/-/metrics", "127.0.0.1", nil, http.StatusOK},
		{"metrics through nginx", viaPlain + "/-/metrics", "127.0.0.1", nil, http.StatusUnauthorized},
		{"metrics through nginx to the trusting node", viaTrusting + "/-/metrics", "127.0.0.2", nil, http.StatusUnauthorized},
		{"metrics, directly, with a forwarding header", plain.Endpoint + "/-/metrics", "127.0.0.1", []string{"X-Forwarded-For: 127.0.0.1"}, http.StatusUnauthorized},
		{"the allowed client through nginx, headers ignored", viaPlain + info, "127.0.0.2", nil, http.StatusForbidden},
		{"the allowed client through nginx, headers trusted", viaTrusting + info, "127.0.0.2", []string{"X-Forwarded-For: 198.51.100.1"}, http.StatusOK},
		{"another client through nginx, claiming the allowed address", viaTrusting + info, "127.0.0.3", []string{"X-Forwarded-For: 127.0.0.2"}, http.StatusForbidden},
		{"an untrusted peer claiming the allowed address", trusting.Endpoint + info, "127.0.0.3", []string{"X-Forwarded-For: 127.0.0.2"}, http.StatusForbidden},
		{"the trusted proxy's address naming the allowed client", trusting.Endpoint + info, "127.0.0.1", []string{"X-Forwarded-For: 127.0.0.2"}, http.StatusOK},
		{"the trusted proxy's address naming the allowed client in Forwarded", trusting.Endpoint + info, "127.0.0.1", []string{`Forwarded: for="127.0.0.2:4711";proto=https`}, http.StatusOK},
		{"an untrusted peer claiming the allowed address in Forwarded", trusting.Endpoint + info, "127.0.0.3", []string{"Forwarded: for=127.0.0.2"}, http.StatusForbidden},
		{"another client through nginx, claiming the allowed address in Forwarded", viaTrusting + info, "127.0.0.3", []string{"Forwarded: for=127.0.0.2"}, http.StatusForbidden},
	} {
		if r := get(c.what, c.url, c.from, c.header...); r.Status != c.want {
			t.Errorf("%s: %d, want %d\n%s", c.what, r.Status, c.want, tail(r.Body, 500))
		}
	}
	if log := trusting.logWith("remote=127.0.0.2 "); !strings.Contains(log, "remote=127.0.0.2 ") {
		t.Errorf("the trusting node's access log names no request from 127.0.0.2:\n%s", tail(grepLines(log, "msg=request"), 3000))
	}
	if log := plain.logWith("remote=127.0.0.2"); strings.Contains(log, "remote=127.0.0.2") {
		t.Errorf("the node without --trusted-proxies logged a forwarded address:\n%s", tail(grepLines(log, "remote=127.0.0.2"), 3000))
	}
	login := "/-/ui/login"
	for _, c := range []struct {
		what, url string
		secure    bool
	}{
		{"through a trusted proxy that terminated TLS", trusting.Endpoint + login, true},
		{"from a peer that is not a trusted proxy", plain.Endpoint + login, false},
	} {
		r := get(c.what, c.url, "127.0.0.1", "X-Forwarded-Proto: https")
		checkConsoleCookie(t, c.what, r.Header, c.secure)
	}
	r := get("through a trusted proxy, plain http", trusting.Endpoint+login, "127.0.0.1", "X-Forwarded-Proto: http")
	checkConsoleCookie(t, "through a trusted proxy, plain http", r.Header, false)
}
