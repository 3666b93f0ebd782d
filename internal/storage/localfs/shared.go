package localfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// OpenShared opens an existing blob store that a server may be using at
// the same time, for the admin commands (bucket resign, verify, path
// delete, gc). Unlike Open it creates nothing and removes no temporary
// file (they may be the server's uploads in progress); it makes no spares
// (the server's Walk would take them for a crash's leftovers), so every
// blob it writes goes through tmp/ and a rename; and its Walk skips the
// uncommitted spares it finds without removing them, since they may be
// the server's uploads in flight. If the server restarts meanwhile and
// sweeps tmp/, a write fails and nothing is committed.
func OpenShared(root string) (*Backend, error) {
	root = filepath.Clean(root)
	b := &Backend{
		tmp:    filepath.Join(root, "tmp"),
		blobs:  filepath.Join(root, "blobs"),
		shared: true,
	}
	for _, dir := range []string{b.tmp, b.blobs} {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("open blob root: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("open blob root: %s is not a directory", dir)
		}
	}
	b.spares.closed = true
	return b, nil
}
