package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestMigrate: an embedded install that Nix 2.8 pushed a closure to is
// migrated to PostgreSQL and the S3 store, and a server on those serves
// the closure, signed by the same key, to a Nix that requires signatures.
// On the way: migrate refuses a running server's data directory; a run
// that fails (a blob gone from the source) leaves a store that servers
// refuse; the run after it finishes the copy; another one copies
// nothing.
func TestMigrate(t *testing.T) {
	nixNeed(t)
	skipUnlessEmbedded(t, "migrate moves an embedded install (DATA/meta.db and DATA/blobs) to PostgreSQL and S3")
	s := startServer(t)
	cache := nixCacheURL(s, nixCacheBucket)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	logFile := filepath.Join(t.TempDir(), "log")
	const logSize = 150000
	if err := os.WriteFile(logFile, []byte(strings.Repeat("build log line\n", logSize/15)), 0o644); err != nil {
		t.Fatal(err)
	}
	nixMustPut(t, nixNetrc(s), cache+"/log/x-migrate.drv", logFile, "text/plain")
	c := nixBuildClosure(t, 3, 512, "migrate")
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
		"--to", cache+"?compression=none", c.Top)

	pg := testenv.Postgres(t)
	st := testenv.S3Store(t)
	blobs := "s3://" + st.NewBucket(t) + "/cache?endpoint=" + st.Endpoint
	env := append(nixEnv(t), st.Env()...)
	env = append(env, "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE=")
	migrate := func() cmdResult {
		return runCmd(t, env, "", serverBin, "migrate", "--from-data", s.Dir, "--to-meta", pg, "--to-blobs", blobs)
	}

	if r := migrate(); r.Err == nil || !strings.Contains(r.Stderr, "a nixbucket server is running on "+s.Dir) {
		t.Fatalf("migrate beside a running server: %v\n%s", r.Err, r.Stderr)
	}
	s.Stop()

	// The log's blob moves away: the copy stops there, unfinished.
	logBlob := findBlob(t, filepath.Join(s.Dir, "blobs"), logSize)
	if err := os.Rename(logBlob, logBlob+".away"); err != nil {
		t.Fatal(err)
	}
	r := migrate()
	if r.Err == nil || !strings.Contains(r.Stderr, "missing from the source's blob store") {
		t.Fatalf("migrate with a blob missing: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}
	refused := runCmd(t, append(os.Environ(), env...), "", serverBin, "serve", "--listen", "127.0.0.1:0",
		"--data", t.TempDir(), "--meta", pg, "--blobs", blobs)
	if refused.Err == nil || !strings.Contains(refused.Stderr, "being filled by nixbucket migrate") {
		t.Fatalf("serve on an unfinished migration: %v\n%s", refused.Err, tail(refused.Stderr, 4000))
	}
	if err := os.Rename(logBlob+".away", logBlob); err != nil {
		t.Fatal(err)
	}

	r = migrate()
	if r.Err != nil {
		t.Fatalf("migrate: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}
	t.Logf("migrate:\n%s%s", r.Stderr, r.Stdout)
	for _, want := range []string{"migrate: settings", "migrate: objects of bucket nix-cache:", "migrate: verifying bucket nix-cache"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("migrate's progress lacks %q", want)
		}
	}
	if !strings.Contains(r.Stdout, "copied: ") || !strings.Contains(r.Stdout, "with the same SHA-256") {
		t.Errorf("migrate's report:\n%s\nwant what it copied, and blobs verified by SHA-256", r.Stdout)
	}
	again := migrate()
	if again.Err != nil || !strings.HasPrefix(again.Stdout, "nothing new to copy") {
		t.Errorf("migrate again: %v\n%s\nwant nothing new to copy", again.Err, again.Stdout)
	}

	// A node on the new backends, in a data directory of its own.
	s2 := startServerEnv(t, t.TempDir(), "http", env, "--meta", pg, "--blobs", blobs)
	if s2.AccessKey != s.AccessKey || s2.SecretKey != s.SecretKey {
		t.Errorf("the new node's admin key is %s, want the migrated %s", s2.AccessKey, s.AccessKey)
	}
	key2 := strings.TrimSpace(nixMust(t, serverBin, "bucket", "public-key", nixCacheBucket, "--meta", pg))
	if key2 != serverKey {
		t.Errorf("public key after migrating %q, want %q", key2, serverKey)
	}
	c.delete(t)
	nixMustSubstitute(t, nixCacheURL(s2, nixCacheBucket), serverKey, nixNetrc(s2), c.Top)
	c.checkDumps(t)
	got := nixHTTP(t, nixNetrc(s2), "GET", nixCacheURL(s2, nixCacheBucket)+"/log/x-migrate.drv")
	if got.Status != 200 || len(got.Body) != logSize {
		t.Errorf("GET the log from the new node: %d with %d bytes, want 200 and %d", got.Status, len(got.Body), logSize)
	}
	// The copy names its blob store, so the first node on it does not
	// take the migrated objects for another store's.
	if log := s2.stderr.String(); strings.Contains(log, "not the one recorded") {
		t.Errorf("the first node on the migrated store warns of another blob store:\n%s", tail(log, 4000))
	}
}

// findBlob returns the one blob file under dir of the given size.
func findBlob(t *testing.T, dir string, size int64) string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Size() == size {
			found = append(found, p)
		}
		return nil
	})
	if len(found) != 1 {
		t.Fatalf("blob files of %d bytes under %s: %q, want one", size, dir, found)
	}
	return found[0]
}
