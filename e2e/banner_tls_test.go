package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/tlsconf/tlstest"
)

// TestBannerTLSLines: a server with a self-signed certificate (openssl
// req -x509, the usual first try) prints commands that work as pasted,
// in the environment of this machine, where NIX_SSL_CERT_FILE,
// SSL_CERT_FILE and AWS_CA_BUNDLE name the system's bundle, as they do
// on many: push with Nix 2.8, substitute with signatures required, push
// with nixbucket push, list with the aws CLI. Without the certificate
// named in them, each fails on it (curl error 60, x509, SSL validation).
func TestBannerTLSLines(t *testing.T) {
	tlsNeedNix(t)
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s does not take --tls-cert", target)
	}
	need(t, "aws")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlstest.SelfSigned(t, cert, key, "localhost", "127.0.0.1", "localhost")
	s := startServerArgs(t, t.TempDir(), "https", "--tls-cert", cert, "--tls-key", key)
	info := mustRun(t, os.Environ(), "", serverBin, "info", "--data", s.Dir)
	if !strings.Contains(info, "NIX_SSL_CERT_FILE="+cert) {
		t.Errorf("nixbucket info of a self-signed server does not name NIX_SSL_CERT_FILE=%s:\n%s", cert, info)
	}
	push, substitute := bannerLine(t, info, "push over HTTP:"), bannerLine(t, info, "substitute:")
	nbPush := strings.Replace(bannerLine(t, info, "nixbucket push:"), "nixbucket push", serverBin+" push", 1)
	var awsLs string
	for l := range strings.Lines(info) {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "AWS_SHARED_CREDENTIALS_FILE=") && strings.Contains(l, " s3 ls") {
			awsLs = l
		}
	}

	c := nixBuildClosure(t, 2, 16, "bannertls")
	work := t.TempDir()
	if err := os.Symlink(c.Top, filepath.Join(work, "result")); err != nil {
		t.Fatal(err)
	}
	env := nixEnv(t) // one user, this machine's CA variables
	run := func(what, line string) string {
		t.Helper()
		r := runCmd(t, env, work, "bash", "-euc", line)
		if r.Err != nil {
			t.Fatalf("the banner's %s line fails over https with a self-signed certificate: %v\n%s\n%s", what, r.Err, line, tail(r.Stderr, 6000))
		}
		return r.Stdout
	}
	run("push over HTTP", push)
	if n := nixCachePaths(t, s, nixCacheBucket); n != len(c.Paths) {
		t.Fatalf("bucket info: %d store paths after the push line, want %d", n, len(c.Paths))
	}
	run("nixbucket push", nbPush)
	if out := run("S3 (aws)", awsLs); !strings.Contains(out, nixCacheBucket) {
		t.Errorf("the banner's aws line lists no %s:\n%s", nixCacheBucket, out)
	}
	if err := os.Remove(filepath.Join(work, "result")); err != nil {
		t.Fatal(err)
	}
	c.delete(t)
	run("substitute", strings.Replace(substitute, "/nix/store/...", strings.Join(c.Paths, " "), 1)+" --option require-sigs true")
	c.checkDumps(t)
}
