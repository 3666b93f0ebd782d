package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/s3api"
	"github.com/nixbucket/nixbucket/internal/storage"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
	"github.com/nixbucket/nixbucket/internal/storage/s3store"
)

// BlobStore is an open blob backend.
type BlobStore interface {
	storage.Backend
	Close() error
}

// sweepGrace is how old an unreferenced blob or an unfinished upload in
// a shared (S3) blob store must be before the sweep removes it: other
// servers on the same store may be writing it, and a multipart blob's
// commit time is when its upload began. It also covers clock skew
// between the nodes and the store.
const sweepGrace = 24 * time.Hour

// OpenBlobs opens the blob store spec names: "" for the blobs/ directory
// of the data directory, or s3://BUCKET/PREFIX?endpoint=…&region=…
// &profile=… for a bucket of an S3 store, which must exist. shared opens
// the local store for a process other than the server (see
// localfs.OpenShared); it changes nothing for S3, which is always shared.
func OpenBlobs(ctx context.Context, spec, data string, shared bool) (BlobStore, error) {
	switch {
	case spec == "":
		dir := filepath.Join(data, "blobs")
		if shared {
			return localfs.OpenShared(dir)
		}
		return localfs.Open(dir)
	case strings.HasPrefix(spec, "s3://"):
		cfg, err := s3store.ParseURL(spec)
		if err != nil {
			return nil, err
		}
		return s3store.Open(ctx, cfg, s3store.Options{})
	}
	return nil, fmt.Errorf("blob store %q: want s3://BUCKET/PREFIX?endpoint=… or nothing (the data directory)", spec)
}

// sharedBlobs is a blob store other servers may write at the same time
// (s3store.Backend): it is swept by the "sweep" job, on one node at a
// time, of what is older than sweepGrace (see internal/jobs).
type sharedBlobs interface {
	BlobStore
	// SweepUploads aborts the store's unfinished blob uploads begun
	// before cutoff, and returns how many it aborted.
	SweepUploads(ctx context.Context, cutoff time.Time) (int, error)
}

var _ sharedBlobs = (*s3store.Backend)(nil)

// sweepAtStart removes what a crash left in a blob store only this
// server writes (its data directory's): temporaries, which localfs.Open
// removed, and every unreferenced blob. A shared store is left to the
// "sweep" job.
func (s *Server) sweepAtStart(ctx context.Context) error {
	b, ok := s.blobs.(*localfs.Backend)
	if !ok {
		return nil
	}
	if n := b.SweptTemps(); n > 0 {
		s.log.Info("removed unfinished uploads left by a crash", "files", n)
	}
	n, err := s.sweep(ctx, time.Now())
	if err != nil {
		return fmt.Errorf("sweeping unreferenced blobs: %w", err)
	}
	if n > 0 {
		s.log.Info("removed unreferenced blobs", "blobs", n)
	}
	return nil
}

// sweepShared is the "sweep" job: it aborts the unfinished blob uploads
// and removes the unreferenced blobs of the shared store b that are
// older than sweepGrace at now.
func (s *Server) sweepShared(ctx context.Context, b sharedBlobs, now time.Time) error {
	start := time.Now()
	cutoff := now.Add(-sweepGrace)
	uploads, err := b.SweepUploads(ctx, cutoff)
	if err != nil {
		return fmt.Errorf("sweeping the blob store: %w", err)
	}
	blobs, err := s.objects.Sweep(ctx, cutoff)
	if err != nil {
		return fmt.Errorf("sweeping unreferenced blobs: %w", err)
	}
	s.log.Info("swept the blob store", "uploads_aborted", uploads, "blobs_removed", blobs,
		"older_than", cutoff.UTC().Format(time.RFC3339), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// redirectExpiry is how long a presigned URL of `--redirect-reads` stays
// valid: long enough for a client to follow it and resume a download,
// short enough that a leaked one soon stops working.
const redirectExpiry = 5 * time.Minute

// presignReads is the s3api.Redirector of `serve --redirect-reads`: it
// presigns GETs of one-blob objects in the S3 blob store.
type presignReads struct{ blobs *s3store.Backend }

func (p presignReads) ReadURL(ctx context.Context, obj meta.Object, contentType, cacheControl string) (string, bool, error) {
	if len(obj.Segments) != 1 || obj.Segments[0].Inline() {
		return "", false, nil
	}
	u, err := p.blobs.PresignGet(ctx, obj.Segments[0].Blob, redirectExpiry, contentType, cacheControl)
	return u, err == nil, err
}

// redirector returns the s3api.Redirector for Options.RedirectReads.
func redirector(opts Options, blobs BlobStore) (s3api.Redirector, error) {
	if !opts.RedirectReads {
		return nil, nil
	}
	b, ok := blobs.(*s3store.Backend)
	if !ok {
		return nil, fmt.Errorf("--redirect-reads needs blobs in an S3 store (--blobs s3://…) that clients can reach")
	}
	return presignReads{b}, nil
}
