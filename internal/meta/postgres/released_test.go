package postgres

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta/metatest"
	"github.com/nixbucket/nixbucket/internal/meta/migration"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestUpgradeReleasedDatabases opens databases that released nixbucket
// binaries wrote (testdata/released/vNN-REV.sql, dumped after real pushes
// and admin commands), which Open must migrate to the current schema with
// everything still there and readable, as the SQLite store's test of the
// same name does for data directories.
func TestUpgradeReleasedDatabases(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range metatest.ReleasedDumps(t) {
		t.Run(filepath.Base(d.Path), func(t *testing.T) {
			url := testenv.Postgres(t)
			conn := loadReleased(t, url, d.Path, d.Version)
			s := openAt(t, url)
			if v := schemaVersionOf(t, conn); v != len(ms) {
				t.Errorf("schema version %d after Open, want %d", v, len(ms))
			}
			// The later parts are in dumps from schema 8 on.
			metatest.CheckReleased(t, s, metatest.Scenario{Pins: true, Later: d.Version >= 8})
		})
	}
}

// loadReleased loads the dump f, whose name says it has schema version,
// into the database at url, and returns a connection to it.
func loadReleased(t *testing.T, url, f string, version int) *pgx.Conn {
	t.Helper()
	ctx := t.Context()
	dump, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, string(dump)); err != nil {
		t.Fatalf("load the dump: %v", err)
	}
	if v := schemaVersionOf(t, conn); v != version {
		t.Fatalf("the dump has schema version %d, its name says %d", v, version)
	}
	return conn
}

func schemaVersionOf(t *testing.T, conn *pgx.Conn) (v int) {
	t.Helper()
	if err := conn.QueryRow(t.Context(), `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOpenExistingRefusesOlderSchema: the admin commands' OpenExisting
// refuses a database of an older schema, saying which, and leaves it as it
// was (servers of the older version may still run on it); Open then
// upgrades it.
func TestOpenExistingRefusesOlderSchema(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	url := testenv.Postgres(t)
	conn := loadReleased(t, url, "testdata/released/v02-c4aef5c.sql", 2)
	tables := func() (n int) {
		t.Helper()
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := tables()
	s, err := OpenExisting(t.Context(), url)
	var older *migration.OlderError
	if err == nil {
		s.Close()
		t.Fatal("OpenExisting opened a database of schema 2")
	} else if !errors.As(err, &older) || older.Have != 2 || older.Want != len(ms) {
		t.Errorf("OpenExisting of schema 2: %v", err)
	}
	if v := schemaVersionOf(t, conn); v != 2 {
		t.Errorf("schema version %d after a refused OpenExisting, want 2", v)
	}
	if n := tables(); n != before {
		t.Errorf("%d tables after a refused OpenExisting, were %d", n, before)
	}
	openAt(t, url) // upgrades
	s, err = OpenExisting(t.Context(), url)
	if err != nil {
		t.Fatalf("OpenExisting once upgraded: %v", err)
	}
	s.Close()
}
