package server

import (
	"context"
	"fmt"
	"log/slog"
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

// remoteGrace is how old an unreferenced blob or an unfinished upload in
// a shared (S3) blob store must be before a starting server removes it:
// other servers on the same store may be writing it, and a multipart
// blob's commit time is when its upload began.
const remoteGrace = 24 * time.Hour

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

// sweepLeftovers removes what crashed writers left in the blob store and
// returns the cutoff for the sweep of unreferenced blobs: start for a
// local store, which only this server writes; start less remoteGrace for
// a shared one.
func sweepLeftovers(ctx context.Context, blobs BlobStore, start time.Time, log *slog.Logger) (time.Time, error) {
	switch b := blobs.(type) {
	case *localfs.Backend:
		if n := b.SweptTemps(); n > 0 {
			log.Info("removed unfinished uploads left by a crash", "files", n)
		}
		return start, nil
	case *s3store.Backend:
		cutoff := start.Add(-remoteGrace)
		n, err := b.SweepUploads(ctx, cutoff)
		if err != nil {
			return cutoff, err
		}
		if n > 0 {
			log.Info("aborted unfinished blob uploads left by a crash", "uploads", n)
		}
		return cutoff, nil
	}
	return start, nil
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
