package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/tlsconf/tlstest"
)

// The TLS suite: nixbucket serve --tls-cert/--tls-key, with a CA made for
// each test, against curl (HTTP/1.1 and HTTP/2), the aws CLI, Nix 2.8, a
// TLS-only bucket policy, and a certificate renewed under SIGHUP.

// tlsServer is a nixbucket serving HTTPS with a certificate of its own CA.
type tlsServer struct {
	*Server
	CA                *tlstest.CA
	CertFile, KeyFile string
	Cert              *x509.Certificate // the certificate it started with
}

// startTLSServer starts nixbucket on a fresh data directory, with more
// serve arguments, serving a certificate for 127.0.0.1 and localhost
// issued by a fresh CA.
func startTLSServer(t *testing.T, args ...string) *tlsServer {
	t.Helper()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s does not take --tls-cert", target)
	}
	ts := &tlsServer{CA: tlstest.NewCA(t, "nixbucket e2e CA")}
	dir := t.TempDir()
	ts.CertFile, ts.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ts.Cert = ts.CA.Issue(t, ts.CertFile, ts.KeyFile, "first", "127.0.0.1", "localhost")
	ts.Server = startServerArgs(t, t.TempDir(), "https", append([]string{"--tls-cert", ts.CertFile, "--tls-key", ts.KeyFile}, args...)...)
	return ts
}

// tlsCurl runs curl with args and returns the status and the HTTP version
// it spoke, failing the test if curl fails.
func tlsCurl(t testing.TB, args ...string) (status int, version string) {
	t.Helper()
	r := tryCurl(t, args...)
	if r.Err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), r.Err, r.Stderr)
	}
	if _, err := fmt.Sscan(r.Stdout, &status, &version); err != nil {
		t.Fatalf("curl %s: %q: %v", strings.Join(args, " "), r.Stdout, err)
	}
	return status, version
}

func tryCurl(t testing.TB, args ...string) cmdResult {
	t.Helper()
	need(t, "curl")
	argv := append([]string{"-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}"}, args...)
	return runCmd(t, nixEnv(t), "", "curl", argv...)
}

// TestTLSCurlHTTP1AndHTTP2: curl trusting only the test's CA reads over
// HTTPS with HTTP/1.1 and HTTP/2; without the CA it refuses the server;
// plain HTTP on the TLS port gets no answer from the handler; the banner
// prints https:// URLs. Both transports: the fast lane under TLS, and
// net/http alone.
func TestTLSCurlHTTP1AndHTTP2(t *testing.T) {
	t.Parallel()
	for _, lane := range []string{"--fastlane=true", "--fastlane=false"} {
		t.Run(lane, func(t *testing.T) {
			t.Parallel()
			testTLSCurl(t, startTLSServer(t, lane))
		})
	}
}

func testTLSCurl(t *testing.T, s *tlsServer) {
	url := s.Endpoint + "/" + nixCacheBucket + "/nix-cache-info"
	for _, tc := range []struct{ flag, version string }{{"--http1.1", "1.1"}, {"--http2", "2"}} {
		status, version := tlsCurl(t, tc.flag, "--cacert", s.CA.CertFile, "--netrc-file", nixNetrc(s.Server), url)
		if status != http.StatusOK || version != tc.version {
			t.Errorf("curl %s %s: %d over HTTP/%s, want 200 over HTTP/%s", tc.flag, url, status, version, tc.version)
		}
	}
	if r := tryCurl(t, "--netrc-file", nixNetrc(s.Server), url); r.Err == nil {
		t.Errorf("curl without --cacert trusted the server: %s", r.Stdout)
	}
	plain := "http://" + s.Addr + "/" + nixCacheBucket + "/nix-cache-info"
	if status, _ := tlsCurl(t, "--netrc-file", nixNetrc(s.Server), plain); status == http.StatusOK {
		t.Errorf("plain HTTP to the TLS port: 200, want a refusal")
	}

	// Go's client, as aws-sdk-go-v2 and push use it: HTTP/2 by ALPN.
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: s.CA.ClientConfig(), ForceAttemptHTTP2: true}}
	resp, err := cl.Get(s.Endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("Go client spoke %s, want HTTP/2", resp.Proto)
	}

	for _, want := range []string{
		"substituter:         https://" + s.Addr + "/" + nixCacheBucket,
		"--endpoint-url https://" + s.Addr,
		"&scheme=https&",
	} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, tail(s.stderr.String(), 4000))
		}
	}
}

// TestTLSAWSCLI: the aws CLI with --ca-bundle (and the machine's
// AWS_CA_BUNDLE removed) creates a bucket, uploads (multipart too) and
// downloads over HTTPS; without the bundle it refuses the server.
func TestTLSAWSCLI(t *testing.T) {
	t.Parallel()
	need(t, "aws")
	s := startTLSServer(t)
	env := s.clientEnv() // no AWS_CA_BUNDLE: only --ca-bundle is trusted
	aws := func(args ...string) cmdResult {
		t.Helper()
		return runCmd(t, env, "", "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket", "--ca-bundle", s.CA.CertFile}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		r := aws(args...)
		if r.Err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), r.Err, tail(r.Stderr, 4000))
		}
		return r.Stdout
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeRandomFile(t, src, 12<<20, 11) // above the CLI's 8 MiB multipart threshold
	must("s3", "mb", "s3://tls-bucket")
	must("s3", "cp", src, "s3://tls-bucket/big")
	must("s3", "cp", "s3://tls-bucket/big", filepath.Join(dir, "back"))
	sameFile(t, src, filepath.Join(dir, "back"))
	if out := must("s3", "ls", "s3://tls-bucket/"); !strings.Contains(out, "big") {
		t.Errorf("aws s3 ls: %q, want big", out)
	}

	r := runCmd(t, env, "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3", "ls")
	if r.Err == nil || !strings.Contains(r.Stderr, "SSL") {
		t.Errorf("aws without --ca-bundle: %v\n%s, want a certificate failure", r.Err, tail(r.Stderr, 2000))
	}
}

// TestTLSNixCopyAndSubstitute: Nix 2.8 pushes a closure over HTTPS with
// credentials from a netrc, and substitutes it back with signatures
// required, trusting only the test's CA (see tlsNixMust).
func TestTLSNixCopyAndSubstitute(t *testing.T) {
	t.Parallel()
	tlsNeedNix(t)
	s := startTLSServer(t)
	c := nixBuildClosure(t, 3, 4, "tls")
	cache := s.Endpoint + "/" + nixCacheBucket
	serverKey := nixServerKey(t, s.Server, nixCacheBucket)
	tlsNixMust(t, s.CA.CertFile, "nix", "--extra-experimental-features", "nix-command", "copy", "--option", "substituters", "",
		"--option", "netrc-file", nixNetrc(s.Server), "--to", cache+"?compression=zstd", c.Top)
	if n := nixCachePaths(t, s.Server, nixCacheBucket); n != len(c.Paths) {
		t.Fatalf("bucket info: %d store paths after nix copy over https, want %d", n, len(c.Paths))
	}
	c.delete(t)
	tlsNixMust(t, s.CA.CertFile, "nix-store", "--realise", c.Top,
		"--option", "substituters", cache,
		"--option", "trusted-public-keys", serverKey,
		"--option", "require-sigs", "true",
		"--option", "netrc-file", nixNetrc(s.Server))
	c.checkDumps(t)
}

// tlsNixMust runs a Nix program in nixEnv trusting only caFile, both by
// NIX_SSL_CERT_FILE and --option ssl-cert-file. Debian's Nix 2.8 honours
// only the environment variable (observed: with the option alone, or
// ssl-cert-file in NIX_CONFIG, it still verifies against the system
// bundle and fails with curl error 60), newer Nix both.
func tlsNixMust(t testing.TB, caFile, name string, args ...string) {
	t.Helper()
	var env []string
	for _, kv := range nixEnv(t) {
		if k, _, _ := strings.Cut(kv, "="); k != "NIX_SSL_CERT_FILE" && k != "SSL_CERT_FILE" {
			env = append(env, kv)
		}
	}
	env = append(env, "NIX_SSL_CERT_FILE="+caFile)
	mustRun(t, env, "", name, append(args, "--option", "ssl-cert-file", caFile)...)
}

// tlsNeedNix skips (or under CI fails) the test unless Nix can run here,
// as nixStart does.
func tlsNeedNix(t *testing.T) {
	t.Helper()
	for _, p := range []string{"nix", "nix-store", "nix-build", "curl", "sh"} {
		need(t, p)
	}
	sharedDir(t)
	if syscall.Access("/nix/var/nix/db", 2 /* W_OK */) != nil {
		if _, err := os.Stat("/nix/var/nix/daemon-socket/socket"); err != nil {
			skipOrFail(t, "the Nix store is neither writable (run as root) nor served by nix-daemon")
		}
	}
}

// TestTLSDenyInsecureTransport: the common "deny unless
// aws:SecureTransport" bucket policy lets anonymous reads through over
// HTTPS and refuses them over plain HTTP, however the plain request
// claims to have come through a TLS proxy; the same data directory is
// served once with TLS and once without.
func TestTLSDenyInsecureTransport(t *testing.T) {
	t.Parallel()
	s := startTLSServer(t)
	doc := `{"Version": "2012-10-17", "Statement": [
	  {"Sid": "AnonymousRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
	   "Resource": "arn:aws:s3:::nix-cache/*"},
	  {"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
	   "Resource": ["arn:aws:s3:::nix-cache", "arn:aws:s3:::nix-cache/*"],
	   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}`
	policy := filepath.Join(t.TempDir(), "tls-only.json")
	if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	nixAdmin(t, s.Server, "bucket", "policy", "set", nixCacheBucket, policy)
	path := "/" + nixCacheBucket + "/nix-cache-info"
	claims := [][]string{nil, {"-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Ssl: on", "-H", "Forwarded: proto=https"}}
	for _, hdrs := range claims {
		// HTTP/1.1 without a query is served by the fast lane, with one it
		// is handed to net/http mid-connection; HTTP/2 goes to net/http.
		for _, v := range []string{"--http1.1", "--http2"} {
			for _, q := range []string{"", "?x-id=GetObject"} {
				args := append([]string{v, "--cacert", s.CA.CertFile}, hdrs...)
				if status, _ := tlsCurl(t, append(args, s.Endpoint+path+q)...); status != http.StatusOK {
					t.Errorf("anonymous GET %s over HTTPS (%s %q): %d, want 200", path+q, v, hdrs, status)
				}
			}
		}
	}

	s.Stop()
	s.Args, s.Endpoint = nil, "http://"+s.Addr
	s.Restart()
	for _, hdrs := range claims {
		for _, q := range []string{"", "?x-id=GetObject"} {
			if status, _ := tlsCurl(t, append(hdrs, s.Endpoint+path+q)...); status != http.StatusForbidden {
				t.Errorf("anonymous GET %s over plain HTTP (%q): %d, want 403 from the TLS-only policy", path+q, hdrs, status)
			}
		}
	}
	// The refusal is the Deny's: without it the same request passes.
	nixAdmin(t, s.Server, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	if status, _ := tlsCurl(t, s.Endpoint+path); status != http.StatusOK {
		t.Errorf("anonymous GET over plain HTTP under anonymous-read: %d, want 200", status)
	}
}

// TestTLSReloadOnSIGHUP: after the certificate files are replaced and the
// server gets SIGHUP, new connections get the new certificate while a
// connection opened before keeps being served; a broken certificate on
// the next SIGHUP is refused with an error in the log and the previous
// one stays.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	s := startTLSServer(t)
	old := tlsDial(t, s)
	defer old.Close()
	br := bufio.NewReader(old)
	tlsRoundTrip(t, s, old, br)
	if got := tlsPeerSerial(old); got != s.Cert.SerialNumber.String() {
		t.Fatalf("first connection: serial %s, want %s", got, s.Cert.SerialNumber)
	}

	second := s.CA.Issue(t, s.CertFile, s.KeyFile, "second", "127.0.0.1", "localhost")
	s.hup(t)
	tlsWaitSerial(t, s, second.SerialNumber.String())
	tlsRoundTrip(t, s, old, br) // the old connection is still served
	if got := tlsPeerSerial(old); got != s.Cert.SerialNumber.String() {
		t.Errorf("old connection: serial %s, want still %s", got, s.Cert.SerialNumber)
	}

	if err := os.WriteFile(s.CertFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.hup(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "tls certificate not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged 10s after SIGHUP with a broken certificate:\n%s", tail(s.stderr.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := tlsDial(t, s)
	defer c.Close()
	if got := tlsPeerSerial(c); got != second.SerialNumber.String() {
		t.Errorf("after a failed reload: serial %s, want the previous %s", got, second.SerialNumber)
	}
	tlsRoundTrip(t, s, old, br)
}

// hup sends SIGHUP to the server.
func (s *tlsServer) hup(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP: %v", err)
	}
}

// tlsDial opens a TLS connection trusting only the server's CA.
func tlsDial(t testing.TB, s *tlsServer) *tls.Conn {
	t.Helper()
	cfg := s.CA.ClientConfig()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatalf("tls dial %s: %v", s.Addr, err)
	}
	return c
}

func tlsPeerSerial(c *tls.Conn) string {
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// tlsWaitSerial waits, for at most 10 s, until a new connection gets the
// certificate with serial.
func tlsWaitSerial(t testing.TB, s *tlsServer, serial string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := tlsDial(t, s)
		got := tlsPeerSerial(c)
		c.Close()
		if got == serial {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("new connections still get serial %s 10s after SIGHUP, want %s\n%s", got, serial, tail(s.stderr.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsRoundTrip sends one keep-alive request on c and reads the answer.
func tlsRoundTrip(t testing.TB, s *tlsServer, c *tls.Conn, br *bufio.Reader) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET /%s/nix-cache-info HTTP/1.1\r\nHost: %s\r\n\r\n", nixCacheBucket, s.Addr); err != nil {
		t.Fatalf("write on the old connection: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read on the old connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The cache is private: the anonymous binary-cache GET is refused.
	if resp.StatusCode != http.StatusUnauthorized || resp.Close {
		t.Fatalf("anonymous GET on the old connection: %d (close %v), want a kept-alive 401", resp.StatusCode, resp.Close)
	}
}

// TestTLSPush: nixbucket push reaches a TLS nixbucket over s3:// (the
// SDK trusting AWS_CA_BUNDLE) and over https:// (Go trusting
// SSL_CERT_FILE), both Go clients that speak HTTP/2 when offered, and
// Nix 2.8 substitutes both closures back over https.
func TestTLSPush(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	tlsNeedNix(t)
	s := startTLSServer(t)
	serverKey := nixServerKey(t, s.Server, nixCacheBucket)
	viaS3 := nixBuildClosure(t, 2, 64, "tls-push-s3")
	viaHTTPS := nixBuildClosure(t, 2, 64, "tls-push-https")

	env := pushEnv(t, append(pushAWSFiles(t, "nixbucket", s.AccessKey, s.SecretKey, s.Region), "AWS_CA_BUNDLE="+s.CA.CertFile)...)
	url := fmt.Sprintf("s3://%s?profile=nixbucket&scheme=https&endpoint=%s", nixCacheBucket, s.Addr)
	paths, sum := pushMust(t, env, "--to", url, viaS3.Top)
	pushWantAll(t, "push over s3:// with TLS", viaS3, paths, sum, "pushed")

	env = pushEnv(t, "SSL_CERT_FILE="+s.CA.CertFile)
	paths, sum = pushMust(t, env, "--netrc-file", nixNetrc(s.Server), "--to", s.Endpoint+"/"+nixCacheBucket, viaHTTPS.Top)
	pushWantAll(t, "push over https://", viaHTTPS, paths, sum, "pushed")

	for _, c := range []*nixClosure{viaS3, viaHTTPS} {
		c.delete(t)
		tlsNixMust(t, s.CA.CertFile, "nix-store", "--realise", c.Top,
			"--option", "substituters", s.Endpoint+"/"+nixCacheBucket,
			"--option", "trusted-public-keys", serverKey,
			"--option", "require-sigs", "true",
			"--option", "netrc-file", nixNetrc(s.Server))
		c.checkDumps(t)
	}
}
