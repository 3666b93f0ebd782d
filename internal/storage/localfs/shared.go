package localfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// OpenShared opens an existing blob store that a server may be using at
// the same time, for a second process's occasional writes (the admin
// CLI's `bucket resign`). Unlike Open it removes no temporary file (they
// may be the server's uploads in progress) and makes no spares (the
// server's Walk would take them for a crash's leftovers): every blob goes
// through tmp/ and a rename. If the server restarts meanwhile and sweeps
// tmp/, the write fails and nothing is committed.
func OpenShared(root string) (*Backend, error) {
	root = filepath.Clean(root)
	b := &Backend{
		tmp:   filepath.Join(root, "tmp"),
		blobs: filepath.Join(root, "blobs"),
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
