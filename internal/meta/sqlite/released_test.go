package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta/metatest"
	"github.com/nixbucket/nixbucket/internal/meta/migration"
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
	for _, d := range metatest.ReleasedDumps(t) {
		t.Run(filepath.Base(d.Path), func(t *testing.T) {
			path := loadReleased(t, d.Path, d.Version)
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open (migrating from %d): %v", d.Version, err)
			}
			defer s.Close()
			if v := schemaVersion(t, path); v != len(ms) {
				t.Errorf("schema version %d after Open, want %d", v, len(ms))
			}
			// Pins came with schema 6; the later parts are in dumps from 14 on.
			metatest.CheckReleased(t, s, metatest.Scenario{Pins: d.Version >= 6, Later: d.Version >= 14})
		})
	}
}

// loadReleased makes a database of the dump f, whose name says it has
// schema version, and returns its path.
func loadReleased(t *testing.T, f string, version int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meta.db")
	dump, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(dump)); err != nil {
		t.Fatalf("load the dump: %v", err)
	}
	if v := schemaVersion(t, path); v != version {
		t.Fatalf("the dump has schema version %d, its name says %d", v, version)
	}
	return path
}

// TestOpenCurrentRefusesOlderSchema: the admin commands' OpenCurrent
// refuses a database of an older schema, saying which, and leaves it as it
// was (an older server may still run on it); Open then upgrades it.
func TestOpenCurrentRefusesOlderSchema(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path := loadReleased(t, "testdata/released/v06-c4aef5c.sql", 6)
	dump := func() string {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var out strings.Builder
		rows, err := db.Query("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY name")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var typ, name, def string
			if err := rows.Scan(&typ, &name, &def); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "%s %s %s\n", typ, name, def)
		}
		return out.String()
	}
	before := dump()
	s, err := OpenCurrent(path)
	var older *migration.OlderError
	if err == nil {
		s.Close()
		t.Fatal("OpenCurrent opened a database of schema 6")
	} else if !errors.As(err, &older) || older.Have != 6 || older.Want != len(ms) ||
		!strings.Contains(err.Error(), fmt.Sprintf("schema version 6 is older than this program's %d", len(ms))) {
		t.Errorf("OpenCurrent of schema 6: %v", err)
	}
	if v := schemaVersion(t, path); v != 6 {
		t.Errorf("schema version %d after a refused OpenCurrent, want 6", v)
	}
	if after := dump(); after != before {
		t.Errorf("the schema changed under a refused OpenCurrent:\n%s\nwas\n%s", after, before)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenCurrent(path)
	if err != nil {
		t.Fatalf("OpenCurrent once upgraded: %v", err)
	}
	s.Close()
}
