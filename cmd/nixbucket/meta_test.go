package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestAdminMeta: the admin commands work on the PostgreSQL store a server
// set up, named by --meta or NIXBUCKET_META, whatever --data says; on a
// database the server never used they say so, and how to start one.
func TestAdminMeta(t *testing.T) {
	url := testenv.Postgres(t)
	srv, err := server.Open(context.Background(), server.Options{Data: filepath.Join(t.TempDir(), "data"), Meta: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// A data directory without meta.db: --data alone would find nothing.
	env := []string{"NIXBUCKET_DATA=" + filepath.Join(t.TempDir(), "none"), "NIXBUCKET_META="}
	if r := run(t, env, "user", "create", "alice", "--meta", url); r.code != 0 {
		t.Fatalf("user create --meta: exit %d: %s", r.code, r.stderr)
	}
	r := run(t, append(env, "NIXBUCKET_META="+url), "user", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "alice") {
		t.Errorf("user list with NIXBUCKET_META: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	r = run(t, env, "user", "list")
	if r.code == 0 {
		t.Errorf("user list without --meta found data in an empty directory: %q", r.stdout)
	}

	fresh := testenv.Postgres(t)
	r = run(t, env, "user", "list", "--meta", fresh)
	if r.code == 0 || !strings.Contains(r.stderr, "no nixbucket data in") || !strings.Contains(r.stderr, "serve --meta") {
		t.Errorf("user list on an unused database: exit %d, stderr %q", r.code, r.stderr)
	}
}
