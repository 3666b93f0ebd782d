package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
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

// TestMigrateBlobsOnly: an embedded install moves its blobs alone to an
// S3 store (migrate with --to-blobs and no --to-meta) and goes on serving
// from its data directory's SQLite with --blobs, its local blobs put
// away; an upload begun before the move completes after it. Then that
// install (SQLite with S3 blobs) moves its metadata to PostgreSQL, its
// blobs staying where they are, and a node on both serves the objects.
func TestMigrateBlobsOnly(t *testing.T) {
	skipUnlessEmbedded(t, "migrate moves an embedded install (DATA/meta.db and DATA/blobs)")
	need(t, "aws")
	s := startServer(t)
	cenv := s.clientEnv()
	dir := t.TempDir()
	aws := func(s *Server, args ...string) string {
		t.Helper()
		return mustRun(t, cenv, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	const bucket = "migrate-blobs"
	aws(s, "s3", "mb", "s3://"+bucket)
	big := filepath.Join(dir, "big.bin")
	writeRandomFile(t, big, 20<<20, 7) // 3 parts of the CLI's 8 MiB
	aws(s, "s3", "cp", "--no-progress", big, "s3://"+bucket+"/big.bin")
	part := filepath.Join(dir, "part.bin")
	writeRandomFile(t, part, 5<<20, 8)
	var up struct{ UploadId string }
	if err := json.Unmarshal([]byte(aws(s, "s3api", "create-multipart-upload", "--bucket", bucket, "--key", "later.bin")), &up); err != nil {
		t.Fatal(err)
	}
	var etag struct{ ETag string }
	if err := json.Unmarshal([]byte(aws(s, "s3api", "upload-part", "--bucket", bucket, "--key", "later.bin",
		"--upload-id", up.UploadId, "--part-number", "1", "--body", part)), &etag); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	st := testenv.S3Store(t)
	blobs := "s3://" + st.NewBucket(t) + "/cache?endpoint=" + st.Endpoint
	env := append(nixEnv(t), st.Env()...)
	env = append(env, "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE=")
	r := runCmd(t, env, "", serverBin, "migrate", "--from-data", s.Dir, "--to-blobs", blobs)
	if r.Err != nil || !strings.Contains(r.Stdout, "with the same SHA-256") {
		t.Fatalf("migrate --to-blobs: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}
	if again := runCmd(t, env, "", serverBin, "migrate", "--from-data", s.Dir, "--to-blobs", blobs); again.Err == nil ||
		!strings.Contains(again.Stderr, "already in") {
		t.Errorf("migrate --to-blobs once more: %v\n%s\nwant a refusal: the blobs are already there", again.Err, again.Stderr)
	}
	if err := os.Rename(filepath.Join(s.Dir, "blobs"), filepath.Join(s.Dir, "blobs.before-s3")); err != nil {
		t.Fatal(err)
	}

	s3node := startServerEnv(t, s.Dir, "http", env, "--blobs", blobs)
	back := filepath.Join(dir, "back.bin")
	aws(s3node, "s3", "cp", "--no-progress", "s3://"+bucket+"/big.bin", back)
	sameFile(t, big, back)
	parts := `{"Parts":[{"PartNumber":1,"ETag":` + strconv.Quote(etag.ETag) + `}]}`
	aws(s3node, "s3api", "complete-multipart-upload", "--bucket", bucket, "--key", "later.bin",
		"--upload-id", up.UploadId, "--multipart-upload", parts)
	s3node.Stop()
	if log := s3node.stderr.String(); strings.Contains(log, "not the one recorded") {
		t.Errorf("the server on the moved blobs warns of another blob store:\n%s", tail(log, 4000))
	}

	pg := testenv.Postgres(t)
	if r := runCmd(t, env, "", serverBin, "migrate", "--from-data", s.Dir, "--to-meta", pg); r.Err != nil {
		t.Fatalf("migrate --to-meta of an install on S3 blobs: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}
	node := startServerEnv(t, t.TempDir(), "http", env, "--meta", pg, "--blobs", blobs)
	aws(node, "s3", "cp", "--no-progress", "s3://"+bucket+"/big.bin", back)
	sameFile(t, big, back)
	aws(node, "s3", "cp", "--no-progress", "s3://"+bucket+"/later.bin", back)
	sameFile(t, part, back)
}
