package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The nixbucket push suite: closures built by the corpus script are pushed
// to nixbucket over s3:// and http://, to versitygw over s3:// and to a
// file:// cache; after each, the paths are deleted and Debian's Nix 2.8
// substitutes them back from that cache with signatures required, and their
// NAR dumps must equal the build's. A second push must upload nothing.

// TestPushS3Nixbucket pushes over s3:// as the seed's uploader: a user
// holding the seed's IAM policy, its keys in a temporary AWS credentials
// file under the profile cache-upload, and the seed's URL form
// (profile=cache-upload&region=eu-west-2 plus scheme and endpoint).
func TestPushS3Nixbucket(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	pushCreateBucket(t, pushS3Of(s), seedBucket)
	nixAdmin(t, s, "bucket", "key", "generate", seedBucket)
	serverKey := nixServerKey(t, s, seedBucket)
	policy := filepath.Join(sharedDir(t), "fixtures", "policies", "seed-upload.iam.json")
	section := nixAdmin(t, s, "user", "create", "cache-upload", "--policy", policy)
	credsFile := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(credsFile, []byte(section), 0o600); err != nil {
		t.Fatal(err)
	}
	prof, err := parseINI(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	env := pushEnv(t, pushAWSFiles(t, "cache-upload", prof["cache-upload"]["aws_access_key_id"], prof["cache-upload"]["aws_secret_access_key"], "eu-west-2")...)

	c := nixBuildClosure(t, 3, 64, "push-s3")
	url := fmt.Sprintf("s3://%s?profile=cache-upload&region=eu-west-2&scheme=http&endpoint=%s", seedBucket, s.Addr)
	paths, sum := pushMust(t, env, "--to", url, c.Top)
	pushWantAll(t, "first push", c, paths, sum, "pushed")
	if n := nixCachePaths(t, s, seedBucket); n != len(c.Paths) {
		t.Errorf("bucket info: %d store paths, want %d", n, len(c.Paths))
	}
	// Again, through the GC root symlink (./result).
	paths, sum = pushMust(t, env, "--to", url, c.root)
	pushWantAll(t, "second push", c, paths, sum, "skipped")

	c.delete(t)
	nixMustSubstitute(t, nixCacheURL(s, seedBucket), serverKey, nixNetrc(s), c.Top)
	c.checkDumps(t)
}

// TestPushHTTPNixbucket pushes over plain HTTP with netrc credentials,
// with xz (through the xz program), listings and brotli-encoded narinfos.
func TestPushHTTPNixbucket(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	need(t, "xz")
	s := nixStart(t)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	env := pushEnv(t)
	c := nixBuildClosure(t, 3, 64, "push-http")
	cache := nixCacheURL(s, nixCacheBucket)
	url := cache + "?compression=xz&write-nar-listing=1&narinfo-compression=br"

	paths, sum := pushMust(t, env, "--netrc-file", nixNetrc(s), "--to", url, c.Top)
	pushWantAll(t, "first push", c, paths, sum, "pushed")
	for _, p := range paths {
		if p.Compression != "xz" || !strings.HasSuffix(p.URL, ".nar.xz") {
			t.Errorf("%s: compression %q URL %q, want xz nar/….nar.xz", p.Path, p.Compression, p.URL)
		}
	}
	ls := nixHTTP(t, nixNetrc(s), "GET", cache+"/"+nixHashPart(c.Top)+".ls")
	var listing struct{ Version int }
	if ls.Status != 200 || json.Unmarshal([]byte(ls.Body), &listing) != nil || listing.Version != 1 {
		t.Errorf("GET the listing of %s: %d %.200s", c.Top, ls.Status, ls.Body)
	}
	paths, sum = pushMust(t, env, "--netrc-file", nixNetrc(s), "--to", url, c.Top)
	pushWantAll(t, "second push", c, paths, sum, "skipped")

	c.delete(t)
	nixMustSubstitute(t, cache, serverKey, nixNetrc(s), c.Top)
	c.checkDumps(t)
}

// TestPushS3Versitygw pushes to an independent S3 server with the client's
// own key, NARs large enough for multipart uploads, and substitutes from
// the bucket over plain HTTP once a bucket policy lets anyone read it.
func TestPushS3Versitygw(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	v := pushVersitygw(t)
	const bucket = "push-cache"
	pushCreateBucket(t, v, bucket)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`
	if _, err := v.client().PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	sec, pub := pushGenerateKey(t, "push-e2e-vgw-1")
	env := pushEnv(t, pushAWSFiles(t, "cache-upload", v.AccessKey, v.Secret, "us-east-1")...)
	// 6 MiB of random bytes beside perl: compressed NARs of about 10 MB,
	// two parts each above the 5 MiB threshold.
	c := nixBuildClosure(t, 2, 6144, "push-vgw")
	url := "s3://" + bucket + "?profile=cache-upload&endpoint=" + v.Endpoint + "&multipart-threshold=5M&secret-key=" + sec

	paths, sum := pushMust(t, env, "--to", url, c.Top)
	pushWantAll(t, "first push", c, paths, sum, "pushed")
	if sum.FileBytes < 2*(5<<20) {
		t.Errorf("pushed %d bytes of NAR files, want two over the multipart threshold", sum.FileBytes)
	}
	paths, sum = pushMust(t, env, "--to", url, c.Top)
	pushWantAll(t, "second push", c, paths, sum, "skipped")
	if u := pushUploads(t, v, bucket); len(u) != 0 {
		t.Errorf("%d multipart uploads left behind", len(u))
	}

	c.delete(t)
	nixMustSubstitute(t, v.Endpoint+"/"+bucket, pub, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
}

// TestPushFile pushes paths read from standard input (as a post-build hook
// does) to a file:// cache, compares what it wrote with what Nix's own
// `nix copy` writes for the same closure, and substitutes from it.
func TestPushFile(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	sec, pub := pushGenerateKey(t, "push-e2e-file-1")
	env := pushEnv(t)
	c := nixBuildClosure(t, 3, 64, "push-file")
	dir := t.TempDir()
	url := "file://" + dir + "?write-nar-listing=1&secret-key=" + sec

	r := pushRunStdin(t, env, strings.Join(c.Paths, "\n")+"\n", "--json", "--stdin", "--to", url)
	if r.Err != nil {
		t.Fatalf("nixbucket push --stdin: %v\n%s", r.Err, tail(r.Stderr, 8000))
	}
	paths, sum := pushParseJSON(t, r.Stdout)
	pushWantAll(t, "push --stdin", c, paths, sum, "pushed")

	// Nix's own copy of the closure: the same metadata and listings.
	nixDir := nixFileCache(t, "compression=zstd&write-nar-listing=1", c.Top)
	for _, p := range c.Paths {
		h := nixHashPart(p)
		ours, theirs := nixReadNarinfo(t, filepath.Join(dir, h+".narinfo")), nixReadNarinfo(t, filepath.Join(nixDir, h+".narinfo"))
		if ours.StorePath != theirs.StorePath || ours.NarHash != theirs.NarHash || ours.NarSize != theirs.NarSize ||
			strings.Join(ours.References, " ") != strings.Join(theirs.References, " ") || ours.Deriver != theirs.Deriver || ours.CA != theirs.CA {
			t.Errorf("%s: narinfo\n%s\nNix writes\n%s", p, ours, theirs)
		}
		if !ours.Verify(nixPublicKey(t, pub)) {
			t.Errorf("%s: no valid signature by %s in %q", p, pub, ours.Sigs)
		}
		sameFile(t, filepath.Join(nixDir, h+".ls"), filepath.Join(dir, h+".ls"))
	}
	paths, sum = pushMust(t, env, "--to", url, c.Top)
	pushWantAll(t, "second push", c, paths, sum, "skipped")

	c.delete(t)
	nixMustSubstitute(t, "file://"+dir, pub, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
}

// TestPushKilled kills pushes in the middle of a multipart upload and runs
// them again: the rerun must complete, Nix must substitute what it pushed,
// and no multipart upload may be left on the server. A SIGKILLed process
// cannot abort its uploads; the rerun finds them two ways, each tested
// alone here: in the journal the killed process kept (the rerun writes a
// different file, compression=none, so only the journal knows the killed
// one), and by the key it uploads itself (a rerun from elsewhere, with no
// journal). A SIGINT, by contrast, aborts the uploads in flight at once.
// A proxy holds an upload part until the signal has been delivered, so the
// signal always lands in the middle of the upload.
func TestPushKilled(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	e := pushS3Of(s)
	// 96 MiB of random bytes: a NAR uploaded in about 20 parts of 5 MiB.
	c := nixBuildClosure(t, 1, 96<<10, "push-kill")
	awsFiles := pushAWSFiles(t, "cache-upload", e.AccessKey, e.Secret, "us-east-1")
	url := func(addr, bucket, extra string) string {
		return fmt.Sprintf("s3://%s?profile=cache-upload&endpoint=%s&scheme=http&multipart-threshold=5M&multipart-chunk-size=5M%s", bucket, addr, extra)
	}
	cases := []struct {
		name, bucket string
		sig          syscall.Signal
		sameJournal  bool   // the rerun has the killed run's state directory
		rerun        string // extra store URL parameters of the rerun
		// noHome: neither HOME nor XDG_CACHE_HOME is set, as in a
		// post-build hook of a nix-daemon that systemd runs: the journal
		// is under the passwd entry's home (it was off).
		noHome bool
	}{
		{"sigkill-journal", "push-kill-journal", syscall.SIGKILL, true, "&compression=none", false},
		{"sigkill-journal-no-home", "push-kill-nohome", syscall.SIGKILL, true, "&compression=none", true},
		{"sigkill-same-key", "push-kill-key", syscall.SIGKILL, false, "", false},
		{"sigint", "push-interrupt", syscall.SIGINT, true, "", false},
	}
	for _, tc := range cases {
		pushCreateBucket(t, e, tc.bucket)
		nixAdmin(t, s, "bucket", "key", "generate", tc.bucket)
		env := pushEnv(t, awsFiles...)
		if tc.noHome {
			env = slices.DeleteFunc(env, func(kv string) bool {
				return strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CACHE_HOME=")
			})
		}
		h := newPartHolder(t, s.Addr)
		r := pushInterrupt(t, env, h, tc.sig, "--to", url(h.Addr, tc.bucket, ""), c.Top)
		left := pushUploads(t, e, tc.bucket)
		if tc.sig == syscall.SIGINT {
			if r.Err == nil || !strings.Contains(r.Stderr, "interrupted") {
				t.Errorf("%s: push exited with %v, want a failure saying it was interrupted\n%s", tc.name, r.Err, tail(r.Stderr, 4000))
			}
			if strings.Contains(r.Stderr, "context canceled") {
				t.Errorf("%s: push reported the interruption as path failures, want it said once:\n%s", tc.name, tail(r.Stderr, 4000))
			}
			if len(left) != 0 {
				t.Errorf("%s: %d multipart uploads left after SIGINT, want them aborted", tc.name, len(left))
			}
		} else if len(left) == 0 {
			t.Fatalf("%s: no multipart upload in flight when the push was killed", tc.name)
		}
		if _, err := e.client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(tc.bucket), Key: aws.String(nixHashPart(c.Top) + ".narinfo")}); err == nil {
			t.Errorf("%s: the narinfo exists after the push was stopped", tc.name)
		}
		if !tc.sameJournal {
			env = pushEnv(t, awsFiles...)
		}
		// The same store URL (the journal is kept per store), through
		// the proxy, which holds nothing any more.
		paths, sum := pushMust(t, env, "--to", url(h.Addr, tc.bucket, tc.rerun), c.Top)
		pushWantAll(t, tc.name+": rerun", c, paths, sum, "pushed")
		if left := pushUploads(t, e, tc.bucket); len(left) != 0 {
			t.Errorf("%s: %d multipart uploads left after the rerun: %s", tc.name, len(left), aws.ToString(left[0].Key))
		}
	}
	for _, tc := range cases {
		c.delete(t)
		nixMustSubstitute(t, nixCacheURL(s, tc.bucket), nixServerKey(t, s, tc.bucket), nixNetrc(s), c.Top)
		c.checkDumps(t)
	}
}

// TestPushErrors checks that failures say what went wrong and what to do.
func TestPushErrors(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	e := pushS3Of(s)
	c := nixBuildClosure(t, 1, 1, "push-errors")
	readOnly := filepath.Join(t.TempDir(), "read-only.json")
	if err := os.WriteFile(readOnly, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::nix-cache","arn:aws:s3:::nix-cache/*"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(prof, []byte(nixAdmin(t, s, "user", "create", "reader", "--policy", readOnly)), 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := parseINI(prof)
	if err != nil {
		t.Fatal(err)
	}
	root := pushAWSFiles(t, "cache-upload", e.AccessKey, e.Secret, "us-east-1")
	readerFiles := pushAWSFiles(t, "cache-upload", reader["reader"]["aws_access_key_id"], reader["reader"]["aws_secret_access_key"], "us-east-1")
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	noCreds := []string{"AWS_CONFIG_FILE=" + empty, "AWS_SHARED_CREDENTIALS_FILE=" + empty}
	s3url := func(bucket string) string {
		return fmt.Sprintf("s3://%s?profile=cache-upload&endpoint=%s&scheme=http", bucket, s.Addr)
	}
	notCache := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "read-only", http.StatusMethodNotAllowed)
			return
		}
		http.NotFound(w, r)
	}))
	defer notCache.Close()

	tests := []struct {
		name string
		env  []string
		args []string
		want []string // in standard error
	}{
		{"unknown parameter", nil, []string{"--to", "file:///tmp/x?compresion=xz"}, []string{"compresion", "unknown parameter"}},
		{"no such profile", noCreds, []string{"--to", s3url("nix-cache")}, []string{`profile "cache-upload" is not in`}},
		{"no such profile in AWS_PROFILE", append(root, "AWS_PROFILE=ci-upload"), []string{"--to", fmt.Sprintf("s3://nix-cache?endpoint=%s&scheme=http", s.Addr)},
			[]string{`profile "ci-upload" (from AWS_PROFILE) is not in`, "[profile ci-upload]", "[ci-upload]"}},
		{"no credentials", noCreds, []string{"--to", fmt.Sprintf("s3://nix-cache?endpoint=%s&scheme=http", s.Addr)},
			[]string{"no AWS credentials", "AWS_ACCESS_KEY_ID", "credential_process", "instance metadata"}},
		{"access denied", readerFiles, []string{"--to", s3url("nix-cache")}, []string{"access denied: s3:PutObject on arn:aws:s3:::nix-cache/nar/"}},
		{"no such bucket", root, []string{"--to", s3url("no-such-bucket")}, []string{`bucket "no-such-bucket" does not exist`}},
		{"not a binary cache", nil, []string{"--to", notCache.URL + "/cache"}, []string{"is not a binary cache", "405"}},
		{"no netrc", nil, []string{"--netrc-file", nixNoNetrc(t), "--to", nixCacheURL(s, nixCacheBucket)}, []string{"401", "no credentials were sent", "netrc"}},
		{"not a store path", nil, []string{"--to", "file://" + t.TempDir(), "--", t.TempDir()}, []string{"is not in the Nix store"}},
	}
	for _, tt := range tests {
		args := tt.args
		if !slices.Contains(args, "--") {
			args = append(args, c.Top)
		}
		r := pushRun(t, pushEnv(t, tt.env...), args...)
		if r.Err == nil {
			t.Errorf("%s: push succeeded\n%s", tt.name, r.Stderr)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("%s: standard error lacks %q:\n%s", tt.name, w, tail(r.Stderr, 2000))
			}
		}
		t.Logf("%s: %s", tt.name, strings.TrimSpace(tail(r.Stderr, 600)))
	}
}
