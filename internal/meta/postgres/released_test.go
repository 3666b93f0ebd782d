package postgres

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta/metatest"
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
			ctx := t.Context()
			url := testenv.Postgres(t)
			dump, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, string(dump)); err != nil {
				t.Fatalf("load the dump: %v", err)
			}
			have := func() (v int) {
				t.Helper()
				if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
					t.Fatal(err)
				}
				return v
			}
			if v := have(); v != version {
				t.Fatalf("the dump has schema version %d, its name says %d", v, version)
			}
			s := openAt(t, url)
			if v := have(); v != len(ms) {
				t.Errorf("schema version %d after Open, want %d", v, len(ms))
			}
			metatest.CheckReleased(t, s, true)
		})
	}
}
