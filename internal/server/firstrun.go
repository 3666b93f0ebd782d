package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
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
// files that hold the secret and the commands that read them. other is
// another URL the server is reached at, or "" (see UsableEndpoint).
func (s *Server) Banner(ctx context.Context, endpoint, other string) string {
	b, err := ReadBanner(ctx, s.meta, s.access, s.opts.Data)
	if err != nil {
		s.log.Warn("banner: reading buckets", "err", err)
	}
	b.FirstStart, b.Endpoint, b.Other, b.Region = s.FirstStart, endpoint, other, s.opts.Region
	if s.opts.Meta != "" {
		b.Meta = backend.Redact(s.opts.Meta)
	}
	return b.String()
}
