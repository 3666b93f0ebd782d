// Package migration loads a metadata store's schema migrations: files
// named NNNN_description.sql, numbered from 1 without gaps. A released
// migration is never edited; changes go into a new file. Each store
// applies them its own way (SQLite's user_version, PostgreSQL's table
// under an advisory lock).
package migration

import (
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"
)

// Migration is one schema step.
type Migration struct {
	Version int
	Name    string // the file's name
	SQL     string
}

// Load returns the migrations matching pattern in fsys, in version order,
// refusing a misnamed file or a gap in the numbers.
func Load(fsys fs.FS, pattern string) ([]Migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	ms := make([]Migration, 0, len(names))
	for _, name := range names { // fs.Glob sorts, and numbers are zero-padded
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("migration %s: name is not NNNN_description.sql", base)
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", base, v, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	return ms, nil
}

// OlderError is a store's refusal to upgrade a schema older than the
// program's where it was opened without leave to (the admin commands):
// upgrades happen when a server starts, after the operator's backup.
type OlderError struct {
	Have, Want int
}

func (e *OlderError) Error() string {
	return fmt.Sprintf("schema version %d is older than this program's %d", e.Have, e.Want)
}

// Progress tells the operator of a schema upgrade, which can take a while
// on a large store (a migration that rewrites a table copies every row,
// at start, before the server answers): for a store that had a schema
// already (have > 0), it logs the upgrade about to run and returns a
// function that logs each migration once applied, with its duration. A
// new store's first schema is not announced.
func Progress(store string, have, want int) func(m Migration, took time.Duration) {
	if have == 0 || have >= want {
		return func(Migration, time.Duration) {}
	}
	slog.Info("upgrading the metadata schema; rewriting tables of a large store can take minutes, leave it running",
		"store", store, "from", have, "to", want)
	return func(m Migration, took time.Duration) {
		slog.Info("metadata schema migration applied", "store", store, "migration", m.Name, "took", took.Round(time.Millisecond))
	}
}
