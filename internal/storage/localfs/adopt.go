package localfs

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nixbucket/nixbucket/internal/storage"
)

var _ storage.Adopter = (*Backend)(nil)

// Adopt makes the finished file at path a committed blob by renaming it
// into its fan-out directory, as Commit does with a blob written in tmp/:
// its bytes are neither read nor copied. The file is made durable first
// (a cheap fsync when its writer synced it already), gets the blobs' mode
// and the commit time the sweeper reads, and its directory entry is
// fsynced after the rename. path must be on this backend's filesystem; a
// rename across filesystems fails (EXDEV) and leaves the file where it is.
func (b *Backend) Adopt(ctx context.Context, path string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("adopt blob: %w", err)
	}
	id := newID()
	if err := prepareAdopted(path); err != nil {
		return "", fmt.Errorf("adopt blob %s: %w", id, err)
	}
	if err := b.place(path, id); err != nil {
		return "", fmt.Errorf("adopt blob %s: %w", id, err)
	}
	return id, nil
}

// prepareAdopted gives the file at path a blob's mode and commit time and
// fsyncs it, so the rename publishes durable bytes.
func prepareAdopted(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if err := f.Chmod(filePerm); err != nil {
		return err
	}
	now := time.Now()
	if err := os.Chtimes(path, now, now); err != nil {
		return err
	}
	return f.Sync()
}
