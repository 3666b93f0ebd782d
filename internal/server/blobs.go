package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

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
