package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nixbucket/nixbucket/internal/diskspace"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
)

// openStores opens the disk-space guard, the blob store and the metadata
// store of the data directory. On a full disk a store may fail to open
// for want of a few pages (SQLite's -shm index, a missing fan-out
// directory): when the disk is short of space, the guard's reserve is then
// released and the store opened once more, so that a server restarted on a
// full disk comes up and can delete. Any other failure (a schema newer than
// this program's, a bad --meta URL) leaves the reserve alone: a refused
// start changes nothing and logs no "disk full".
func openStores(ctx context.Context, opts Options, log *slog.Logger) (*diskspace.Guard, BlobStore, meta.Store, error) {
	space, err := diskspace.Open(opts.Data, diskspace.Options{MinFree: opts.MinFree, Log: log})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("watching free space: %w", err)
	}
	blobs, err := OpenBlobs(ctx, opts.Blobs, opts.Data, false)
	if err != nil && opts.Blobs == "" && space.Short() && space.Release() {
		blobs, err = OpenBlobs(ctx, opts.Blobs, opts.Data, false)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening blob store: %w", err)
	}
	store, err := backend.Open(opts.Data, opts.Meta)
	if err != nil && space.Short() && space.Release() {
		store, err = backend.Open(opts.Data, opts.Meta)
	}
	if err != nil {
		blobs.Close()
		return nil, nil, nil, fmt.Errorf("opening metadata: %w", err)
	}
	return space, blobs, store, nil
}
