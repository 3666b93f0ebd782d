package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta/metatest"
)

// TestUpgradeReleasedDatabases opens databases that released nixbucket
// binaries wrote (testdata/released/vNN-REV.sql, dumped from a data
// directory after real pushes and admin commands), which Open must migrate
// to the current schema with everything still there and readable: what a
// cache running for years meets at each upgrade. Unlike the tests that
// build a database from the migrations, these rows are in the encodings the
// old code wrote.
func TestUpgradeReleasedDatabases(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/released/v*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		version, err := strconv.Atoi(strings.TrimPrefix(strings.SplitN(filepath.Base(f), "-", 2)[0], "v"))
		if err != nil {
			t.Fatalf("%s: name is not vNN-REV.sql", f)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meta.db")
			dump, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(string(dump)); err != nil {
				t.Fatalf("load the dump: %v", err)
			}
			db.Close()
			if v := schemaVersion(t, path); v != version {
				t.Fatalf("the dump has schema version %d, its name says %d", v, version)
			}
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open (migrating from %d): %v", version, err)
			}
			defer s.Close()
			if v := schemaVersion(t, path); v != len(ms) {
				t.Errorf("schema version %d after Open, want %d", v, len(ms))
			}
			metatest.CheckReleased(t, s, version >= 6) // pins came with schema 6
		})
	}
}
