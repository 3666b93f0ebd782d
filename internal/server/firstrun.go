package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// DefaultCache is the bucket created on first start, ready for Nix.
const DefaultCache = "nix-cache"

// ensureDefaultCache creates, on first start only, the nix-cache bucket
// with a fresh signing key. It stays private until its owner gives it a
// policy.
func (s *Server) ensureDefaultCache(ctx context.Context) error {
	if !s.FirstStart {
		return nil
	}
	if err := s.objects.CreateBucket(ctx, DefaultCache); err != nil && !errors.Is(err, meta.ErrBucketExists) {
		return fmt.Errorf("creating bucket %s: %w", DefaultCache, err)
	}
	// CreateBucket gave it its key; a first start cut short between the
	// two gets it now.
	_, err := binarycache.EnsureSigningKey(ctx, s.meta, DefaultCache)
	return err
}

// URL is the base URL of the server listening on addr (host:port), with
// the scheme it is served over: what the banner prints and clients use.
func (s *Server) URL(addr string) string { return s.scheme() + "://" + addr }

// scheme is Options.Scheme, "http" by default.
func (s *Server) scheme() string {
	if s.opts.Scheme == "" {
		return "http"
	}
	return s.opts.Scheme
}

// Banner is what a first start prints: every line ready to paste. It
// never holds the admin secret, since it goes to the log: it names the
// files that hold the secret and the commands that read them.
func (s *Server) Banner(ctx context.Context, endpoint string) string {
	pub, _ := binarycache.PublicKeys(ctx, s.meta, DefaultCache)
	host := endpoint
	if u, _, err := net.SplitHostPort(trimScheme(endpoint)); err == nil {
		host = u
	}
	creds := s.CredentialsFile()
	netrc := filepath.Join(s.opts.Data, "netrc")
	return fmt.Sprintf(`
nixbucket: first start — admin credentials and the binary cache %[2]q created.

  access key id:     %[1]s
  secret access key: not printed; it is saved (mode 0600) in
    %[3]s   as the AWS profile [nixbucket]
    %[4]s   as netrc lines for 127.0.0.1 and localhost (Nix's netrc-file)
  To read it:
    grep aws_secret_access_key %[3]s
    AWS_SHARED_CREDENTIALS_FILE=%[3]s aws configure get aws_secret_access_key --profile nixbucket

S3:
  AWS_SHARED_CREDENTIALS_FILE=%[3]s aws --endpoint-url %[5]s --profile nixbucket s3 ls

Nix (the cache signs what you push; trust its key):
  substituter:         %[5]s/%[2]s
  trusted-public-keys: %[6]s
  push over HTTP:      nix --extra-experimental-features nix-command copy --option netrc-file %[4]s --to '%[5]s/%[2]s?compression=zstd' ./result
  push over S3:        AWS_SHARED_CREDENTIALS_FILE=%[3]s nix copy --to 's3://%[2]s?endpoint=%[7]s:%[8]s&scheme=%[11]s&profile=nixbucket&region=%[9]s' ./result
  substitute:          nix-store -r /nix/store/... --option substituters '%[5]s/%[2]s' --option trusted-public-keys '%[6]s' --option netrc-file %[4]s

The cache is private. To let anyone read it (the seed's anonymous-read policy):
  nixbucket bucket policy set --data %[10]s %[2]s anonymous-read

`, s.Root.ID, DefaultCache, creds, netrc, endpoint, joinKeys(pub), host, port(endpoint), s.opts.Region, s.opts.Data, s.scheme())
}

func trimScheme(u string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(u) > len(p) && u[:len(p)] == p {
			return u[len(p):]
		}
	}
	return u
}

func port(endpoint string) string {
	_, p, err := net.SplitHostPort(trimScheme(endpoint))
	if err != nil {
		return "80"
	}
	return p
}

func joinKeys(keys []string) string {
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += " "
		}
		s += k
	}
	return s
}
