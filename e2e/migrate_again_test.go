package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestMigrateAgainAfterWrites: an install migrated to PostgreSQL takes
// more writes before the move (the operator went back to it), and
// migrate runs again. What changed reaches the destination: a new object,
// and new tags on an object migrated before (put-object-tagging changes
// neither its ETag nor its modification time). What the source deleted
// (an object, a user's revoked access key) stays in the destination and
// fails the check, which points at --delete; with it, it goes there too.
// A node on the destination then answers the aws CLI as the source did.
func TestMigrateAgainAfterWrites(t *testing.T) {
	skipUnlessEmbedded(t, "migrate moves an embedded install (DATA/meta.db and DATA/blobs) to PostgreSQL")
	need(t, "aws")
	s := startServer(t)
	env := s.clientEnv()
	dir := t.TempDir()
	aws := awsAdmin(t, env, dir)
	const bucket = "migrate-again"
	aws(s, "s3", "mb", "s3://"+bucket)
	file := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(file, []byte("tagged object\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aws(s, "s3api", "put-object", "--bucket", bucket, "--key", "a.txt", "--body", file, "--tagging", "stage=build")
	aws(s, "s3api", "put-object", "--bucket", bucket, "--key", "c.txt", "--body", file)
	created := nixAdmin(t, s, "user", "create", "bob")
	bob := parseINISection(t, created)
	readPolicy := filepath.Join(dir, "read.json")
	if err := os.WriteFile(readPolicy, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+bucket+`/*"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	nixAdmin(t, s, "user", "create", "reader", "--policy", readPolicy)
	token := strings.TrimSpace(nixAdmin(t, s, "token", "create", "--user", "reader"))
	s.Stop()

	pg := testenv.Postgres(t)
	migrate := func(args ...string) cmdResult {
		return runCmd(t, nil, "", serverBin, append([]string{"migrate", "--from-data", s.Dir, "--to-meta", pg}, args...)...)
	}
	if r := migrate(); r.Err != nil {
		t.Fatalf("migrate: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}

	s.Restart()
	aws(s, "s3api", "put-object-tagging", "--bucket", bucket, "--key", "a.txt", "--tagging", "TagSet=[{Key=stage,Value=release}]")
	aws(s, "s3api", "put-object", "--bucket", bucket, "--key", "b.txt", "--body", file)
	aws(s, "s3", "rm", "s3://"+bucket+"/c.txt")
	nixAdmin(t, s, "user", "key", "delete", bob["aws_access_key_id"])
	s.Stop()

	r := migrate()
	if r.Err == nil || !strings.Contains(r.Stderr, "--delete") {
		t.Errorf("migrate after deletes in the source: %v\nstderr:\n%s\nwant a failed check that points at --delete", r.Err, r.Stderr)
	}
	if r := migrate("--delete"); r.Err != nil || !strings.Contains(r.Stdout, "removed") {
		t.Fatalf("migrate --delete: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}
	if r := migrate(); r.Err != nil || !strings.HasPrefix(r.Stdout, "nothing new to copy") {
		t.Errorf("migrate once more: %v\n%s; want nothing new to copy", r.Err, r.Stdout)
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
	bobEnv := append(slices.Clone(env), "AWS_ACCESS_KEY_ID="+bob["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY="+bob["aws_secret_access_key"],
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
	// An unknown key is answered as a wrong secret is (no enumeration of
	// keys); a known key of a user without a policy gets AccessDenied.
	if r := runCmd(t, bobEnv, dir, "aws", "--endpoint-url", node.Endpoint, "s3", "ls"); r.Err == nil || !strings.Contains(r.Stderr, "SignatureDoesNotMatch") {
		t.Errorf("bob's key, deleted on the source, on the migrated node: %v\n%s%s\nwant SignatureDoesNotMatch, as for a key that does not exist", r.Err, r.Stdout, r.Stderr)
	}

	// The reader's token logs in over plain HTTP (netrc's Basic), and its
	// user's policy still decides: a.txt yes, the bucket listing no.
	netrc := filepath.Join(dir, "netrc")
	if err := os.WriteFile(netrc, []byte("machine 127.0.0.1 login reader password "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want string
	}{{"/" + bucket + "/a.txt", "200"}, {"/" + bucket + "/", "403"}} {
		out := mustRun(t, env, dir, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--netrc-file", netrc, node.Endpoint+c.path)
		if out != c.want {
			t.Errorf("GET %s with the reader's token on the migrated node: %s, want %s", c.path, out, c.want)
		}
	}

	// The node has served the copy: it is the install now, and migrate
	// refuses to overwrite (or with --delete remove) what it wrote.
	aws(node, "s3api", "put-object", "--bucket", bucket, "--key", "a.txt", "--body", filepath.Join(dir, "a.txt"), "--tagging", "stage=new")
	node.Stop()
	for _, args := range [][]string{nil, {"--delete"}} {
		if r := migrate(args...); r.Err == nil || !strings.Contains(r.Stderr, "servers have run on the destination") {
			t.Errorf("migrate %q after a node served the destination: %v\nstdout:\n%s\nstderr:\n%s\nwant a refusal", args, r.Err, r.Stdout, r.Stderr)
		}
	}
}

// awsAdmin returns a function that runs the aws CLI in dir with the
// admin's profile against a server, failing the test when it fails; all
// servers of a migration share the admin key.
func awsAdmin(t *testing.T, env []string, dir string) func(s *Server, args ...string) string {
	return func(s *Server, args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
}

// parseINISection reads the key = value lines of a credentials section
// an admin command printed.
func parseINISection(t *testing.T, out string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if kv["aws_access_key_id"] == "" || kv["aws_secret_access_key"] == "" {
		t.Fatalf("no credentials section in:\n%s", out)
	}
	return kv
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
	dir := t.TempDir()
	aws := awsAdmin(t, s.clientEnv(), dir)
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
