package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestMigrateAgainAfterWrites: an install migrated to PostgreSQL takes
// more writes before the move (the operator went back to it), and
// migrate runs again. What changed reaches the destination: a new object,
// and new tags on an object migrated before (put-object-tagging changes
// neither its ETag nor its modification time). A node on the destination
// then answers the aws CLI with both.
func TestMigrateAgainAfterWrites(t *testing.T) {
	skipUnlessEmbedded(t, "migrate moves an embedded install (DATA/meta.db and DATA/blobs) to PostgreSQL")
	need(t, "aws")
	s := startServer(t)
	env := s.clientEnv()
	dir := t.TempDir()
	aws := func(s *Server, args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	const bucket = "migrate-again"
	aws(s, "s3", "mb", "s3://"+bucket)
	file := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(file, []byte("tagged object\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aws(s, "s3api", "put-object", "--bucket", bucket, "--key", "a.txt", "--body", file, "--tagging", "stage=build")
	s.Stop()

	pg := testenv.Postgres(t)
	migrate := func() cmdResult {
		r := runCmd(t, nil, "", serverBin, "migrate", "--from-data", s.Dir, "--to-meta", pg)
		if r.Err != nil {
			t.Fatalf("migrate: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
		}
		return r
	}
	migrate()

	s.Restart()
	aws(s, "s3api", "put-object-tagging", "--bucket", bucket, "--key", "a.txt", "--tagging", "TagSet=[{Key=stage,Value=release}]")
	aws(s, "s3api", "put-object", "--bucket", bucket, "--key", "b.txt", "--body", file)
	s.Stop()

	if r := migrate(); strings.HasPrefix(r.Stdout, "nothing new to copy") {
		t.Errorf("migrate after new writes: %s; want the tags and the new object copied", r.Stdout)
	}
	if r := migrate(); !strings.HasPrefix(r.Stdout, "nothing new to copy") {
		t.Errorf("migrate a third time: %s; want nothing new to copy", r.Stdout)
	}

	node := startServerDir(t, s.Dir, "--meta", pg)
	if got := parseAWSLs(aws(node, "s3", "ls", "--recursive", "s3://"+bucket+"/")); len(got) != 2 || got["a.txt"] == "" || got["b.txt"] == "" {
		t.Errorf("s3 ls on the migrated node: %v, want a.txt and b.txt", got)
	}
	var tagging struct{ TagSet []struct{ Key, Value string } }
	out := aws(node, "s3api", "get-object-tagging", "--bucket", bucket, "--key", "a.txt")
	if err := json.Unmarshal([]byte(out), &tagging); err != nil {
		t.Fatalf("get-object-tagging: %v\n%s", err, out)
	}
	if len(tagging.TagSet) != 1 || tagging.TagSet[0].Value != "release" {
		t.Errorf("tags of a.txt on the migrated node: %+v, want stage=release, as set on the source after the first migrate", tagging.TagSet)
	}
}
