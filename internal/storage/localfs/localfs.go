// Package localfs stores blobs as files in a local directory.
//
// Layout under the root directory:
//
//	tmp/<id>               a blob being written (removed by Open after a crash)
//	blobs/<id[0:2]>/<id>   a committed blob
//
// IDs are 128 random bits from crypto/rand in lowercase hex (32 characters).
// The commit time the sweeper needs is the file's modification time, which
// Commit sets, so a time prefix in the ID would add nothing.
//
// There is one level of 256 fan-out directories, all created by Open, as in
// restic's data/ directory. Random IDs spread blobs evenly over them, and
// ext4 and XFS index large directories, so ten million blobs (about 40,000
// per directory) are still cheap to look up. A second level of 65,536
// directories would have to be created lazily, and in a store of fewer
// than some hundred thousand blobs nearly every commit would then create a
// directory and fsync its parent: a third fsync per small blob, which cost
// about a third of small-blob commit throughput when measured.
//
// A commit follows the usual durable-rename sequence: write to tmp/, fsync
// the file, close it, rename it into its fan-out directory, and fsync that
// directory.
//
// One process at a time may use a root: Open removes every temporary file it
// finds, including those of another process still writing.
package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nixbucket/nixbucket/internal/storage"
)

const (
	idLen    = 32 // hex characters: 128 bits
	dirPerm  = 0o700
	filePerm = 0o600
)

// Backend is a storage.Backend on a local directory. It is safe for
// concurrent use.
type Backend struct {
	tmp    string
	blobs  string
	swept  int
	spares spares
	// shared: another process (the server) may be writing here; see
	// OpenShared.
	shared bool
}

var _ storage.Placer = (*Backend)(nil)

// Open opens the blob store in root, creating root (mode 0700) and its
// subdirectories if needed, and removes every temporary file left in
// root/tmp by writers that never committed or aborted. SweptTemps reports
// how many were removed.
func Open(root string) (*Backend, error) {
	root = filepath.Clean(root)
	b := &Backend{
		tmp:   filepath.Join(root, "tmp"),
		blobs: filepath.Join(root, "blobs"),
	}
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(root, dirPerm); err != nil {
			return nil, fmt.Errorf("create blob root: %w", err)
		}
		if err := syncDir(filepath.Dir(root)); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("open blob root: %w", err)
	}
	created := false
	for _, dir := range []string{b.tmp, b.blobs} {
		err := os.Mkdir(dir, dirPerm)
		switch {
		case err == nil:
			created = true
		case errors.Is(err, fs.ErrExist):
			if fi, err := os.Stat(dir); err != nil {
				return nil, fmt.Errorf("open blob root: %w", err)
			} else if !fi.IsDir() {
				return nil, fmt.Errorf("open blob root: %s is not a directory", dir)
			}
		default:
			return nil, fmt.Errorf("open blob root: %w", err)
		}
	}
	if created {
		if err := syncDir(root); err != nil {
			return nil, err
		}
	}
	if err := b.makeFanout(); err != nil {
		return nil, err
	}
	n, err := sweep(b.tmp)
	b.swept = n
	if err != nil {
		return nil, err
	}
	return b, nil
}

// makeFanout creates whichever of the 256 fan-out directories are missing.
func (b *Backend) makeFanout() error {
	created := false
	for i := range 256 {
		err := os.Mkdir(filepath.Join(b.blobs, hex.EncodeToString([]byte{byte(i)})), dirPerm)
		if err == nil {
			created = true
		} else if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create fan-out directories: %w", err)
		}
	}
	if created {
		return syncDir(b.blobs)
	}
	return nil
}

// SweptTemps returns how many temporary files Open removed: the remains of
// writers interrupted by a crash.
func (b *Backend) SweptTemps() int { return b.swept }

// sweep removes everything in dir and returns how many entries it removed.
func sweep(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("sweep temporaries: %w", err)
	}
	n := 0
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, fmt.Errorf("sweep temporaries: %w", err)
		}
		n++
	}
	return n, nil
}

// Create starts a new blob under a fresh random ID: in a spare file when
// one is ready, else in tmp/.
func (b *Backend) Create(ctx context.Context) (storage.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	if id, ok := b.takeSpare(); ok {
		f, err := os.OpenFile(b.path(id), os.O_WRONLY, filePerm)
		if err == nil {
			return &writer{b: b, id: id, tmp: b.path(id), f: f, inPlace: true}, nil
		}
		b.unhide(id)
		os.Remove(b.path(id))
	}
	id := newID()
	tmp := filepath.Join(b.tmp, id)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return &writer{b: b, id: id, tmp: tmp, f: f}, nil
}

// Open opens a committed blob. An ID that is not in this backend's format
// cannot name a blob and is reported as missing.
func (b *Backend) Open(ctx context.Context, id string) (storage.Blob, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open blob %q: %w", id, err)
	}
	if !validID(id) {
		return nil, fmt.Errorf("open blob %q: invalid id: %w", id, storage.ErrNotExist)
	}
	f, err := os.Open(b.path(id))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, fmt.Errorf("open blob %s: %w", id, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", id, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", id, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open blob %s: not a regular file", id)
	}
	if fi.Mode().Perm() == spareMode {
		f.Close()
		return nil, fmt.Errorf("open blob %s: not committed: %w", id, storage.ErrNotExist)
	}
	return &blob{f: f, size: fi.Size()}, nil
}

// Delete removes a committed blob. Removal is not fsynced: should a crash
// undo it, the blob is unreferenced garbage that the sweeper deletes again.
// An ID not in this backend's format is an error, since no caller should
// hold one.
func (b *Backend) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %q: %w", id, err)
	}
	if !validID(id) {
		return fmt.Errorf("delete blob %q: invalid id", id)
	}
	err := os.Remove(b.path(id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", id, err)
	}
	return nil
}

// Walk calls fn for every committed blob with its modification time, which
// Commit sets to the commit time. Files in blobs/ that are not blobs (wrong
// name or place) are skipped. A blob deleted during the walk may or may not
// be reported.
func (b *Backend) Walk(ctx context.Context, fn func(id string, committed time.Time) error) error {
	dirs, err := os.ReadDir(b.blobs)
	if err != nil {
		return fmt.Errorf("walk blobs: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() || !isHex(d.Name(), 2) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		files, err := readDir(filepath.Join(b.blobs, d.Name()))
		if err != nil {
			return err
		}
		for _, f := range files {
			id := f.Name()
			if !f.Type().IsRegular() || !validID(id) || id[:2] != d.Name() {
				continue
			}
			fi, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			if err != nil {
				return fmt.Errorf("walk blobs: %w", err)
			}
			if fi.Mode().Perm() == spareMode {
				if !b.shared && !b.isHidden(id) {
					os.Remove(b.path(id)) // left by a crash
				}
				continue
			}
			if err := fn(id, fi.ModTime()); err != nil {
				return err
			}
		}
	}
	return nil
}

// readDir lists dir, treating a directory removed meanwhile as empty.
func readDir(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walk blobs: %w", err)
	}
	return entries, nil
}

// path returns the committed location of a valid ID.
func (b *Backend) path(id string) string {
	return filepath.Join(b.blobs, id[:2], id)
}

// newID returns 128 random bits in lowercase hex.
func newID() string {
	var raw [idLen / 2]byte
	rand.Read(raw[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(raw[:])
}

// validID reports whether id has the form newID produces.
func validID(id string) bool { return isHex(id, idLen) }

// isHex reports whether s is exactly n lowercase hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// syncDir fsyncs a directory so the entries created or renamed in it
// survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// Ping reports whether the blob directory is there: a disk unmounted
// under a running server, or a directory removed, is not.
func (b *Backend) Ping(ctx context.Context) error {
	if _, err := os.Stat(b.blobs); err != nil {
		return fmt.Errorf("blob directory: %w", err)
	}
	return nil
}
