// Package backend chooses and opens the metadata store, so that the server
// and the admin CLI never construct one themselves.
//
// Today a store is named by the data directory: SQLite in DATA/meta.db.
// A second implementation (PostgreSQL, named by a URL) is added here, and
// nowhere else.
package backend

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

// dbName is the SQLite database's file in the data directory.
const dbName = "meta.db"

// Open opens the metadata store of the data directory data, creating it
// if needed, and brings its schema up to date.
func Open(data string) (meta.Store, error) {
	return sqlite.Open(filepath.Join(data, dbName))
}

// OpenExisting is Open for a store that must already exist (the admin
// commands): an error wrapping fs.ErrNotExist when there is none.
func OpenExisting(data string) (meta.Store, error) {
	path := filepath.Join(data, dbName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	return sqlite.Open(path)
}

// SharedObjects reports whether processes other than this one may write
// s's objects, so that caches of objects kept in memory (objects.Service's
// memo, set off by NoMemo) would go stale. The store's generation
// announces changes of identities and settings only, not object writes.
// An SQLite store serves one server (the data directory is locked); the
// admin commands that change objects beside it (bucket resign, bucket
// delete --force, path delete, verify --repair, gc) announce the change
// through the generation afterwards, which the memo follows. A store
// this package did not open is taken as shared.
func SharedObjects(s meta.Store) bool {
	_, local := s.(*sqlite.Store)
	return !local
}
