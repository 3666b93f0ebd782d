package e2e

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestPushSchemeMistakes: the scheme mistakes of a first push, https
// against a plain-HTTP nixbucket and plain HTTP against one serving TLS
// (over http(s):// and over s3://, where scheme= is easy to get wrong),
// and a certificate of a CA this machine does not trust, each get one
// line saying what is wrong and what to change, and push stops at once
// instead of retrying what no retry mends.
func TestPushSchemeMistakes(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	plain := nixStart(t)
	tlsS := startTLSServer(t)
	top := nixBuildClosure(t, 1, 1, "push-scheme").Top
	creds := func(s *Server) []string { return pushAWSFiles(t, "p", s.AccessKey, s.SecretKey, s.Region) }

	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"https to plain", nil, []string{"--netrc-file", nixNetrc(plain), "--to", "https://" + plain.Addr + "/nix-cache"},
			"speaks plain HTTP, not HTTPS: use an http:// URL"},
		{"s3 without scheme=http to plain", creds(plain), []string{"--to", "s3://nix-cache?profile=p&endpoint=" + plain.Addr},
			"speaks plain HTTP, not HTTPS: add scheme=http to the store URL"},
		{"http to TLS", []string{"SSL_CERT_FILE=" + tlsS.CA.CertFile}, []string{"--netrc-file", nixNetrc(tlsS.Server), "--to", "http://" + tlsS.Addr + "/nix-cache"},
			"speaks HTTPS, not plain HTTP: use an https:// URL"},
		{"s3 scheme=http to TLS", append(creds(tlsS.Server), "AWS_CA_BUNDLE="+tlsS.CA.CertFile), []string{"--to", "s3://nix-cache?profile=p&scheme=http&endpoint=" + tlsS.Addr},
			"speaks HTTPS, not plain HTTP: remove scheme=http from the store URL"},
		{"https, CA not trusted", nil, []string{"--netrc-file", nixNetrc(tlsS.Server), "--to", "https://" + tlsS.Addr + "/nix-cache"},
			"is not trusted here (x509: certificate signed by unknown authority): if a private CA signed it, point SSL_CERT_FILE"},
		{"s3, CA not trusted", creds(tlsS.Server), []string{"--to", "s3://nix-cache?profile=p&endpoint=" + tlsS.Addr},
			"is not trusted here (x509: certificate signed by unknown authority): if a private CA signed it, point SSL_CERT_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pushRun(t, pushEnv(t, tt.env...), append(tt.args, top)...)
			if ee := (*exec.ExitError)(nil); !errors.As(r.Err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("push: %v, want exit status 1\n%s", r.Err, r.Stderr)
			}
			if n := strings.Count(r.Stderr, "nixbucket: push: "); n != 1 || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("want one error line containing %q, got %d:\n%s", tt.want, n, r.Stderr)
			}
			for _, retried := range []string{"gave up after", "maximum number of attempts"} {
				if strings.Contains(r.Stderr, retried) {
					t.Errorf("push retried what no retry mends (%q):\n%s", retried, r.Stderr)
				}
			}
			t.Logf("%s", strings.TrimSpace(r.Stderr))
		})
	}
}

// TestPushWrongRegion: against a server that checks the region of
// signatures (--strict-region, as AWS does), a store URL without the
// bucket's region= is told which region to add: the HEAD that finds it
// out carries no body, so push asks again with a GET.
func TestPushWrongRegion(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := startServerArgs(t, t.TempDir(), "http", "--strict-region", "--region", "eu-west-2")
	s.Region = "eu-west-2"
	c := nixBuildClosure(t, 1, 1, "push-region")
	env := pushEnv(t, pushAWSFiles(t, "p", s.AccessKey, s.SecretKey, "us-east-1")...)
	url := "s3://nix-cache?profile=p&scheme=http&endpoint=" + s.Addr
	r := pushRun(t, env, "--to", url, c.Top)
	want := `nixbucket: push: the bucket "nix-cache" is in another region than us-east-1: add region=eu-west-2 to the store URL`
	if ee := (*exec.ExitError)(nil); !errors.As(r.Err, &ee) || ee.ExitCode() != 1 || !strings.Contains(r.Stderr, want) {
		t.Errorf("push without region=: %v, stderr:\n%s\nwant exit 1 and %q", r.Err, r.Stderr, want)
	}
	paths, sum := pushMust(t, env, "--to", url+"&region=eu-west-2", c.Top)
	pushWantAll(t, "push with region=eu-west-2", c, paths, sum, "pushed")
}
