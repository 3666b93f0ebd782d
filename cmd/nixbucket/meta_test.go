package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestAdminMeta: the admin commands work on the PostgreSQL store a server
// set up, named by --meta or NIXBUCKET_META, whatever --data says; on a
// database the server never used they say so, and how to start one.
func TestAdminMeta(t *testing.T) {
	url := testenv.Postgres(t)
	data := filepath.Join(t.TempDir(), "data")
	srv, err := server.Open(context.Background(), server.Options{Data: data, Meta: url})
	if err != nil {
		t.Fatal(err)
	}
	banner := srv.Banner(context.Background(), "http://127.0.0.1:9", "")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// The first start's banner says how to make the cache public; on
	// PostgreSQL that command must name the store, and work as printed.
	hint := ""
	for line := range strings.Lines(banner) {
		if strings.Contains(line, "bucket policy set") {
			hint = strings.TrimSpace(line)
		}
	}
	want := "nixbucket bucket policy set --meta '" + backend.Redact(url) + "' nix-cache anonymous-read"
	if hint != want {
		t.Fatalf("banner's public-cache hint %q, want %q", hint, want)
	}
	args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(hint, "nixbucket "), "'", ""))
	if r := run(t, []string{"NIXBUCKET_META=", "NIXBUCKET_DATA=" + filepath.Join(t.TempDir(), "elsewhere")}, args...); r.code != 0 {
		t.Fatalf("the banner's hint %q: exit %d: %s", hint, r.code, r.stderr)
	}
	if r := run(t, []string{"NIXBUCKET_META=" + url}, "info"); r.code != 0 || !strings.Contains(r.stdout, "/nix-cache   (public") {
		t.Errorf("info after the hint: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	// From a machine that is no node (no server's data directory), info
	// must not send the admin to credentials files that do not exist
	// without saying so; with a node's directory it has nothing to warn of.
	elsewhere := filepath.Join(t.TempDir(), "admin")
	if r := run(t, []string{"NIXBUCKET_META=" + url, "NIXBUCKET_DATA=" + elsewhere}, "info"); r.code != 0 || !strings.Contains(r.stderr, "holds no credentials file") {
		t.Errorf("info --meta from a directory no server used: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, []string{"NIXBUCKET_META=" + url, "NIXBUCKET_DATA=" + data}, "info"); r.code != 0 || strings.Contains(r.stderr, "holds no credentials file") {
		t.Errorf("info --meta --data NODE_DIR: exit %d, stderr %q", r.code, r.stderr)
	}
	// The node's data directory holds no metadata: --data alone says
	// where it is instead of "start a server here once".
	r := run(t, []string{"NIXBUCKET_META="}, "bucket", "list", "--data", data)
	if r.code == 0 || !strings.Contains(r.stderr, "keeps its metadata elsewhere") || !strings.Contains(r.stderr, "--meta") {
		t.Errorf("bucket list --data on a PostgreSQL node's directory: exit %d, stderr %q", r.code, r.stderr)
	}
	// A data directory without meta.db: --data alone would find nothing.
	env := []string{"NIXBUCKET_DATA=" + filepath.Join(t.TempDir(), "none"), "NIXBUCKET_META="}
	if r := run(t, env, "user", "create", "alice", "--meta", url); r.code != 0 {
		t.Fatalf("user create --meta: exit %d: %s", r.code, r.stderr)
	}
	r = run(t, append(env, "NIXBUCKET_META="+url), "user", "list")
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
