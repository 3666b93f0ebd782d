package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBucketMadeByAWSCLISigns: a bucket made with `aws s3 mb` has a
// signing key, so what Nix 2.8 pushes there is signed and substitutes
// with signatures required. Then a key rotation: a new key, `bucket
// resign` while the server runs, and the closure substitutes trusting only
// the new key; a second resign changes nothing. (Debian's Nix 2.8 has no
// s3:// store, so it pushes over HTTP, and nixbucket push over S3.)
func TestBucketMadeByAWSCLISigns(t *testing.T) {
	t.Parallel()
	need(t, "aws")
	s := nixStart(t)
	const bucket = "made-by-aws"
	mustRun(t, s.clientEnv(), "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3", "mb", "s3://"+bucket)
	key := nixServerKey(t, s, bucket)
	if !strings.HasPrefix(key, bucket+"-1:") {
		t.Errorf("bucket made by aws s3 mb has key %q, want one named %s-1", key, bucket)
	}
	c := nixBuildClosure(t, 2, 4, "mb")
	cache := nixCacheURL(s, bucket)
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
		"--to", cache+"?compression=zstd", c.Top)
	for _, p := range c.Paths {
		ni := nixGetNarinfo(t, s, bucket, p)
		if len(ni.Sigs) != 1 || !ni.Verify(nixPublicKey(t, key)) {
			t.Errorf("%s: Sigs %q, want one by %s", p, ni.Sigs, key)
		}
	}
	c.delete(t)
	nixMustSubstitute(t, cache, key, nixNetrc(s), c.Top)
	c.checkDumps(t)

	newKey := strings.TrimSpace(nixAdmin(t, s, "bucket", "key", "generate", bucket))
	r := nixRun(t, serverBin, "bucket", "resign", bucket, "--data", s.Dir, "--progress", "1")
	if r.Err != nil || !strings.Contains(r.Stdout, "2 of 2 narinfos re-signed") || !strings.Contains(r.Stderr, "2 narinfos read, 2 re-signed") {
		t.Fatalf("bucket resign: %v\nstdout:\n%s\nstderr:\n%s", r.Err, r.Stdout, r.Stderr)
	}
	if out := nixAdmin(t, s, "bucket", "resign", bucket); !strings.Contains(out, "nothing changed") {
		t.Errorf("second bucket resign:\n%s\nwant it to say nothing changed", out)
	}
	for _, p := range c.Paths {
		ni := nixGetNarinfo(t, s, bucket, p)
		if len(ni.Sigs) != 2 || !ni.Verify(nixPublicKey(t, key)) || !ni.Verify(nixPublicKey(t, newKey)) {
			t.Errorf("%s after resign: Sigs %q, want the old key's and %s's", p, ni.Sigs, newKey)
		}
	}
	c.delete(t)
	nixMustSubstitute(t, cache, newKey, nixNetrc(s), c.Top)
	c.checkDumps(t)

	// Pushed over S3 (as Nix with S3 support pushes) to another bucket
	// made by aws s3 mb: signed as well.
	const s3Bucket = "made-by-aws-s3"
	mustRun(t, s.clientEnv(), "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3", "mb", "s3://"+s3Bucket)
	env := pushEnv(t, pushAWSFiles(t, "mb", s.AccessKey, s.SecretKey, "us-east-1")...)
	pushMust(t, env, "--to", "s3://"+s3Bucket+"?profile=mb&scheme=http&endpoint="+s.Addr, c.Top)
	s3Key := nixServerKey(t, s, s3Bucket)
	for _, p := range c.Paths {
		if ni := nixGetNarinfo(t, s, s3Bucket, p); !ni.Verify(nixPublicKey(t, s3Key)) {
			t.Errorf("%s pushed over S3: Sigs %q, want one by %s", p, ni.Sigs, s3Key)
		}
	}
}

// TestBucketAdminCommands: bucket create (with its key, --public), list,
// and delete, which refuses a bucket that holds objects unless --force.
func TestBucketAdminCommands(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("the admin CLI is nixbucket's")
	}
	s := startServer(t)
	admin := func(args ...string) cmdResult {
		t.Helper()
		return runCmd(t, nil, "", serverBin, append(args, "--data", s.Dir)...)
	}
	r := admin("bucket", "create", "cli-made", "--public")
	if r.Err != nil || !strings.Contains(r.Stdout, "bucket cli-made created, public") || !strings.Contains(r.Stdout, "trusted-public-keys: cli-made-1:") {
		t.Fatalf("bucket create: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	if r := admin("bucket", "create", "cli-made"); r.Err == nil || !strings.Contains(r.Stderr, "already exists") {
		t.Errorf("bucket create of an existing bucket: %v\n%s", r.Err, r.Stderr)
	}
	if r := admin("bucket", "create", "Bad_Name"); r.Err == nil || !strings.Contains(r.Stderr, "invalid bucket name") {
		t.Errorf("bucket create Bad_Name: %v\n%s", r.Err, r.Stderr)
	}
	// Public: anonymous reads work at once, on the running server.
	if r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, s.Endpoint+"/cli-made/nix-cache-info"); r.Status != http.StatusOK {
		t.Errorf("anonymous GET of the public bucket's nix-cache-info: %d", r.Status)
	}
	hello := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(hello, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := curlS3(t, s, http.MethodPut, s.Endpoint+"/cli-made/hello.txt", "-T", hello); r.Status != http.StatusOK {
		t.Fatalf("PUT hello.txt: %d\n%s", r.Status, r.Body)
	}

	list := admin("bucket", "list")
	if list.Err != nil {
		t.Fatalf("bucket list: %v\n%s", list.Err, list.Stderr)
	}
	want := map[string][]string{
		"cli-made":  {"public", "cli-made-1"},
		"nix-cache": {"private", "nix-cache-1"},
	}
	for name, fields := range want {
		found := false
		for _, line := range strings.Split(list.Stdout, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && f[0] == name {
				found = true
				for _, w := range fields {
					if !strings.Contains(line, w) {
						t.Errorf("bucket list line %q lacks %q", line, w)
					}
				}
			}
		}
		if !found {
			t.Errorf("bucket list does not list %s:\n%s", name, list.Stdout)
		}
	}

	if r := admin("bucket", "delete", "cli-made"); r.Err == nil || !strings.Contains(r.Stderr, "not empty") || !strings.Contains(r.Stderr, "--force") {
		t.Errorf("bucket delete of a non-empty bucket: %v\n%s", r.Err, r.Stderr)
	}
	if r := admin("bucket", "delete", "cli-made", "--force"); r.Err != nil || !strings.Contains(r.Stdout, "bucket cli-made deleted") {
		t.Errorf("bucket delete --force: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	if r := curlS3(t, s, http.MethodGet, s.Endpoint+"/cli-made/hello.txt"); r.Status != http.StatusNotFound || !strings.Contains(r.Body, "NoSuchBucket") {
		t.Errorf("GET from the deleted bucket: %d %s, want 404 NoSuchBucket", r.Status, r.Body)
	}
	if out := admin("bucket", "list").Stdout; strings.Contains(out, "cli-made") {
		t.Errorf("bucket list after delete:\n%s", out)
	}
}

// TestServeDebugLog: the access log (on by default) logs every request on
// stderr, and at any level a failed authentication at info level.
func TestServeDebugLog(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("the log is nixbucket's")
	}
	s := startServerArgs(t, t.TempDir(), "http", "--log-level", "debug")
	nixHTTP(t, nixNetrc(s), http.MethodGet, s.Endpoint+"/nix-cache/nix-cache-info")
	mustRun(t, nil, "", "curl", "-sS", "-o", "/dev/null", "-u", s.AccessKey+":wrong-secret", s.Endpoint+"/nix-cache/nix-cache-info")
	s.Stop() // the access log is written in the background, and out at shutdown
	log := s.stderr.String()
	for _, parts := range [][]string{
		{"level=INFO", "msg=request", "method=GET", "bucket=nix-cache", "key=nix-cache-info", "status=", "duration=", "remote=127.0.0.1:"},
		{"level=INFO", `msg="authentication failed"`, "key_id=" + s.AccessKey, `reason="wrong secret"`},
	} {
		if !hasLine(log, parts...) {
			t.Errorf("no stderr line with %q:\n%s", parts, tail(log, 4000))
		}
	}
	if strings.Contains(log, "wrong-secret") {
		t.Errorf("the log holds the secret sent")
	}
}

func hasLine(text string, parts ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}
