package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/server"
)

// TestAdminRefusesOlderSchema: on a data directory an older nixbucket
// wrote, the admin commands and migrate refuse, leave its schema as it was
// (a server of the older version may still run on it) and say how to
// upgrade it; once a server of this version has started, they work.
func TestAdminRefusesOlderSchema(t *testing.T) {
	data := t.TempDir()
	dump, err := os.ReadFile("../../internal/meta/sqlite/testdata/released/v06-c4aef5c.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(data, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(string(dump)); err != nil {
		t.Fatal(err)
	}
	version := func() (v int) {
		t.Helper()
		if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	env := []string{"NIXBUCKET_META="}
	for _, args := range [][]string{
		{"user", "list", "--data", data},
		{"bucket", "list", "--data", data},
		{"migrate", "--from-data", data, "--to-meta", "postgres://u@127.0.0.1:1/db"},
	} {
		r := run(t, env, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "schema version 6 is older than this program's") ||
			!strings.Contains(r.stderr, "then run nixbucket serve --data "+data) {
			t.Errorf("%q on schema 6: exit %d, stderr %q", args, r.code, r.stderr)
		}
		if v := version(); v != 6 {
			t.Fatalf("%q left schema version %d, want 6", args, v)
		}
	}
	srv, err := server.Open(context.Background(), server.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if r := run(t, env, "user", "list", "--data", data); r.code != 0 || !strings.Contains(r.stdout, "alice") {
		t.Errorf("user list once upgraded: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
