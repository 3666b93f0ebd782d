// Package backend chooses and opens the metadata store, so that the server
// and the admin CLI never construct one themselves.
//
// A store is named by a URL (--meta, NIXBUCKET_META): postgres://… or
// postgresql://… is the PostgreSQL store (internal/meta/postgres). Without
// one it is the data directory's SQLite store, DATA/meta.db.
package backend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/postgres"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

// dbName is the SQLite database's file in the data directory.
const dbName = "meta.db"

// IsPostgres reports whether url names a PostgreSQL store.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// check refuses a URL no store is known by.
func check(url string) error {
	if url != "" && !IsPostgres(url) {
		return fmt.Errorf("metadata store %q: want postgres://USER@HOST:PORT/DB (or postgresql://…); leave it empty for the data directory's", Redact(url))
	}
	return nil
}

// Open opens the metadata store named by url, or with url empty that of
// the data directory data, creating it if needed, and brings its schema
// up to date.
func Open(data, url string) (meta.Store, error) {
	if err := check(url); err != nil {
		return nil, err
	}
	if url != "" {
		return postgres.Open(context.Background(), url)
	}
	return sqlite.Open(filepath.Join(data, dbName))
}

// OpenExisting is Open for a store that must already exist (the admin
// commands): an error wrapping fs.ErrNotExist when there is none, and a
// *migration.OlderError, changing nothing, when its schema is older than
// this program's: only a server's start upgrades a schema.
func OpenExisting(data, url string) (meta.Store, error) {
	if err := check(url); err != nil {
		return nil, err
	}
	if url != "" {
		return postgres.OpenExisting(context.Background(), url)
	}
	path := filepath.Join(data, dbName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("metadata store: %w", err)
	}
	return sqlite.OpenCurrent(path)
}

// Redact returns url without its password, for messages and logs.
func Redact(url string) string {
	return postgres.Redact(url)
}

// SharedObjects reports whether processes other than this one may write
// s's objects, so that caches of objects kept in memory (objects.Service's
// memo) would go stale unless they follow the store's reports of object
// changes (meta.ObjectWatcher, which PostgreSQL implements) or are off
// (NoMemo). The store's generation announces changes of identities and
// settings only, not object writes. An SQLite store serves one server
// (the data directory is locked); the admin commands that change objects
// beside it (bucket resign, bucket delete --force, path delete, verify
// --repair, gc) announce the change through the generation afterwards,
// which the memo follows. A PostgreSQL store is shared by every server on
// it, and a store this package did not open is taken as shared.
func SharedObjects(s meta.Store) bool {
	_, local := s.(*sqlite.Store)
	return !local
}
