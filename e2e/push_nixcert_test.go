package e2e

import (
	"strings"
	"testing"
)

// TestPushNixCertFile pushes over https:// and s3:// to a nixbucket whose
// certificate a private CA signed, with the CA named only by
// NIX_SSL_CERT_FILE, as the Nix installer's profile and the nixos/nix
// container image name the bundle (they set no SSL_CERT_FILE): Nix trusts
// it, and so must push (Go's TLS reads only SSL_CERT_FILE, so the push
// failed with "certificate signed by unknown authority" where `nix copy`
// succeeds). Nix then substitutes the closure with signatures required.
func TestPushNixCertFile(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := startTLSServer(t)
	const s3Bucket = "push-nixcert-s3"
	nixAdmin(t, s.Server, "bucket", "create", s3Bucket)
	var env []string
	for _, kv := range pushEnv(t, pushAWSFiles(t, "p", s.AccessKey, s.SecretKey, s.Region)...) {
		if k, _, _ := strings.Cut(kv, "="); k != "SSL_CERT_FILE" && k != "NIX_SSL_CERT_FILE" {
			env = append(env, kv)
		}
	}
	env = append(env, "NIX_SSL_CERT_FILE="+s.CA.CertFile)

	for _, tc := range []struct{ bucket, url string }{
		{nixCacheBucket, s.Endpoint + "/" + nixCacheBucket},
		{s3Bucket, "s3://" + s3Bucket + "?profile=p&endpoint=" + s.Addr},
	} {
		c := nixBuildClosure(t, 2, 4, "push-nixcert-"+tc.bucket)
		paths, sum := pushMust(t, env, "--netrc-file", nixNetrc(s.Server), "--to", tc.url, c.Top)
		pushWantAll(t, "push to "+tc.url, c, paths, sum, "pushed")
		c.delete(t)
		tlsNixMust(t, s.CA.CertFile, "nix-store", "--realise", c.Top,
			"--option", "substituters", s.Endpoint+"/"+tc.bucket,
			"--option", "trusted-public-keys", nixServerKey(t, s.Server, tc.bucket),
			"--option", "require-sigs", "true",
			"--option", "netrc-file", nixNetrc(s.Server))
		c.checkDumps(t)
	}
}
