package target

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nixbucket/nixbucket/internal/atomicfile"
	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/ctxio"
)

// fileTarget is a binary cache in a local directory (file:///DIR).
type fileTarget struct {
	dir string
}

func openFile(s *storeurl.Store) (*fileTarget, error) {
	// As Nix does, create the cache directory and its nar/ subdirectory.
	if err := os.MkdirAll(filepath.Join(s.Dir, "nar"), 0o755); err != nil {
		return nil, fmt.Errorf("binary cache %s: %w", s.Dir, err)
	}
	return &fileTarget{dir: s.Dir}, nil
}

func (t *fileTarget) String() string { return "file://" + t.dir }

func (t *fileTarget) Close() error { return nil }

func (t *fileTarget) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") {
		return "", fmt.Errorf("binary cache %s: bad key %q", t.dir, key)
	}
	return filepath.Join(t.dir, filepath.FromSlash(key)), nil
}

func (t *fileTarget) Get(ctx context.Context, key string) ([]byte, error) {
	p, err := t.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

func (t *fileTarget) Stat(ctx context.Context, key string) (int64, error) {
	p, err := t.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Put writes the file under a temporary name, syncs it and renames it into
// place, then syncs the directory: a crash leaves the old file or the new
// one, never a torn one.
func (t *fileTarget) Put(ctx context.Context, key string, f *spool.File, m Meta) error {
	p, err := t.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := &countingReader{r: f.Section(0, f.Size()), progress: m.Progress}
	err = atomicfile.Copy(p, ctxio.Reader(ctx, r), 0o644)
	if err != nil {
		r.undo()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}
