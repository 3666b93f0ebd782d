package localfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// OpenBeside opens an existing blob store that a server may be using at
// the same time, for an admin command that reads and deletes blobs
// (nixbucket gc): unlike Open it creates nothing and leaves root/tmp
// alone, where the server's uploads in progress are.
func OpenBeside(root string) (*Backend, error) {
	root = filepath.Clean(root)
	b := &Backend{tmp: filepath.Join(root, "tmp"), blobs: filepath.Join(root, "blobs")}
	fi, err := os.Stat(b.blobs)
	if err != nil {
		return nil, fmt.Errorf("open blob root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open blob root: %s is not a directory", b.blobs)
	}
	return b, nil
}
