package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/nixbucket/nixbucket/internal/cache"
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
	_, err := cache.NewSigningKey(ctx, s.meta, DefaultCache, "")
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

// Banner is what a first start prints: every line ready to paste.
func (s *Server) Banner(ctx context.Context, endpoint string) string {
	pub, _ := cache.PublicKeys(ctx, s.meta, DefaultCache)
	host := endpoint
	if u, _, err := net.SplitHostPort(trimScheme(endpoint)); err == nil {
		host = u
	}
	creds := s.CredentialsFile()
	netrc := filepath.Join(s.opts.Data, "netrc")
	return fmt.Sprintf(`
nixbucket: first start — admin credentials and the binary cache %[3]q created.

  access key id:     %[1]s
  secret access key: %[2]s

They are saved (mode 0600) in %[4]s as profile [nixbucket], and as a
netrc line in %[5]s:
  machine %[6]s login %[1]s password %[2]s
This is the only time they are printed.

S3:
  AWS_SHARED_CREDENTIALS_FILE=%[4]s aws --endpoint-url %[7]s --profile nixbucket s3 ls

Nix (the cache signs what you push; trust its key):
  substituter:         %[7]s/%[3]s
  trusted-public-keys: %[8]s
  push over HTTP:      nix --extra-experimental-features nix-command copy --option netrc-file %[5]s --to '%[7]s/%[3]s?compression=zstd' ./result
  push over S3:        AWS_SHARED_CREDENTIALS_FILE=%[4]s nix copy --to 's3://%[3]s?endpoint=%[6]s:%[9]s&scheme=%[12]s&profile=nixbucket&region=%[10]s' ./result
  substitute:          nix-store -r /nix/store/... --option substituters '%[7]s/%[3]s' --option trusted-public-keys '%[8]s' --option netrc-file %[5]s

The cache is private. To let anyone read it (the seed's anonymous-read policy):
  nixbucket bucket policy set --data %[11]s %[3]s anonymous-read

`, s.Root.ID, s.Root.Secret, DefaultCache, creds, netrc, host, endpoint, joinKeys(pub), port(endpoint), s.opts.Region, s.opts.Data, s.scheme())
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
