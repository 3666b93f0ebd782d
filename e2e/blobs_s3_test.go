package e2e

import (
	"crypto/sha256"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// nixStartS3Blobs starts a server on SQLite metadata that keeps its blobs
// in a fresh bucket of the test S3 store (versitygw), credentials from the
// environment as the AWS default chain reads them, and returns it with
// the directory where the store keeps the blobs.
func nixStartS3Blobs(t *testing.T, args ...string) (*Server, string) {
	t.Helper()
	s, dir, _ := nixStartS3BlobsURL(t, args...)
	return s, dir
}

// nixStartS3BlobsURL is nixStartS3Blobs that returns the blob store URL too.
func nixStartS3BlobsURL(t *testing.T, args ...string) (*Server, string, string) {
	t.Helper()
	nixNeed(t)
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	env := append(st.Env(), "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE=")
	url := "s3://" + bucket + "/cache?endpoint=" + st.Endpoint
	s := startServerEnv(t, t.TempDir(), "http", env, append([]string{"--blobs", url}, args...)...)
	return s, st.ObjectPath(bucket, "cache/blobs"), url
}

// countFiles counts the regular files under dir.
func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// TestNixS3Blobs pushes a closure with Nix 2.8 to a server whose blobs
// are in an S3 store, NARs larger than one multipart part of the store
// among them, and substitutes it back with signatures required, streamed
// from the store (the blob cache off); with
// --redirect-reads the NARs come from the store through a 307, which
// curl -L and Nix follow.
func TestNixS3Blobs(t *testing.T) {
	for _, redirect := range []bool{false, true} {
		// The blob cache off: the NARs stream from the store each time,
		// so that a blob truncated in the store shows (nixTruncateBlob);
		// TestClusterBlobCache covers the cache.
		name, args := "stream", []string{"--blob-cache-size", "0"}
		if redirect {
			name, args = "redirect-reads", []string{"--redirect-reads"}
		}
		t.Run(name, func(t *testing.T) {
			s, blobDir := nixStartS3Blobs(t, args...)
			// 17 MiB of random bytes: uncompressed, more than one 16 MiB part.
			c := nixBuildClosure(t, 2, 17<<10, "s3blobs")
			cache := nixCacheURL(s, nixCacheBucket)
			serverKey := nixServerKey(t, s, nixCacheBucket)
			nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
				"--to", cache+"?compression=none", c.Top)
			if n := countFiles(blobDir); n < len(c.Paths) {
				t.Fatalf("%d blobs in the S3 store after pushing %d NARs, want at least one each", n, len(c.Paths))
			}
			for _, p := range c.Paths {
				ni := nixGetNarinfo(t, s, nixCacheBucket, p)
				narURL := cache + "/" + ni.URL
				first := nixHTTP(t, nixNetrc(s), http.MethodGet, narURL)
				if redirect {
					loc := first.Header.Get("Location")
					if first.Status != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, "http://127.0.0.1:") || strings.HasPrefix(loc, s.Endpoint) {
						t.Fatalf("GET %s: %d Location %q, want 307 to the S3 store", ni.URL, first.Status, loc)
					}
				} else if first.Status != http.StatusOK {
					t.Fatalf("GET %s: %d, want 200", ni.URL, first.Status)
				}
				r := nixHTTP(t, nixNetrc(s), http.MethodGet, narURL, "-L")
				sum := sha256.Sum256([]byte(r.Body))
				if r.Status != http.StatusOK || strconv.Itoa(len(r.Body)) != strconv.FormatUint(ni.FileSize, 10) ||
					"sha256:"+nixbase32.EncodeToString(sum[:]) != ni.FileHash {
					t.Fatalf("curl -L %s: %d, %d bytes; want 200 and the NAR (%d bytes, %s)", ni.URL, r.Status, len(r.Body), ni.FileSize, ni.FileHash)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/x-nix-nar" {
					t.Errorf("curl -L %s: Content-Type %q, want application/x-nix-nar", ni.URL, ct)
				}
				// Resuming a download: a Range through the redirect.
				rr := nixHTTP(t, nixNetrc(s), http.MethodGet, narURL, "-L", "-H", "Range: bytes=16777210-16777229")
				if rr.Status != http.StatusPartialContent || rr.Body != r.Body[16777210:16777230] {
					t.Errorf("curl -L Range %s: %d with %d bytes, want 206 and the 20 bytes", ni.URL, rr.Status, len(rr.Body))
				}
			}
			c.delete(t)
			nixMustSubstitute(t, cache, serverKey, nixNetrc(s), c.Top)
			c.checkDumps(t)
			if !redirect {
				nixTruncateBlob(t, s, blobDir, c)
			}
		})
	}
}

// TestS3BlobsAdmin: an admin command that deletes objects, given the
// server's --blobs, deletes their blobs from the S3 store.
func TestS3BlobsAdmin(t *testing.T) {
	s, blobDir, url := nixStartS3BlobsURL(t)
	file := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(file, []byte(strings.Repeat("build log line\n", 10000)), 0o644); err != nil {
		t.Fatal(err)
	}
	nixMustPut(t, nixNetrc(s), nixCacheURL(s, nixCacheBucket)+"/log/x-test.drv", file, "text/plain")
	if n := countFiles(blobDir); n != 1 {
		t.Fatalf("%d blobs in the S3 store after one PUT, want 1", n)
	}
	env := append(nixEnv(t), testenv.S3Store(t).Env()...)
	env = append(env, "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE=")
	// Without --blobs, admin commands use the blob store the server
	// recorded: verify finds the log's blob there (with the data
	// directory's empty blobs/ it would report it missing).
	r := runCmd(t, env, "", serverBin, "verify", nixCacheBucket, "--data", s.Dir)
	if r.Err != nil || !strings.Contains(r.Stdout, ", 1 blobs") || !strings.Contains(r.Stderr, url) {
		t.Errorf("verify without --blobs: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	r = runCmd(t, env, "", serverBin, "bucket", "delete", nixCacheBucket, "--force", "--data", s.Dir, "--blobs", url)
	if r.Err != nil {
		t.Fatalf("bucket delete --force --blobs: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	if n := countFiles(blobDir); n != 0 {
		t.Errorf("%d blobs left in the S3 store after bucket delete --force, want 0", n)
	}
}

// nixTruncateBlob cuts one NAR's blob short in the store, behind the
// server's back: its GET must then fail before any header (a 5xx), never
// a 200 whose body ends early, and substitution of it must fail, while
// the other NARs are served whole.
func nixTruncateBlob(t *testing.T, s *Server, blobDir string, c *nixClosure) {
	t.Helper()
	var files []string
	filepath.WalkDir(blobDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no blob in the store")
	}
	if err := os.Truncate(files[0], 1000); err != nil {
		t.Fatal(err)
	}
	cache := nixCacheURL(s, nixCacheBucket)
	failed := 0
	for _, p := range c.Paths {
		ni := nixGetNarinfo(t, s, nixCacheBucket, p)
		r := nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+ni.URL)
		switch {
		case r.Status >= 500:
			failed++
		case r.Status != http.StatusOK || uint64(len(r.Body)) != ni.FileSize:
			t.Errorf("GET %s with a truncated blob in the store: %d with %d bytes, want a 5xx or all %d bytes", ni.URL, r.Status, len(r.Body), ni.FileSize)
		}
	}
	if failed != 1 {
		t.Errorf("%d NAR GETs failed after one blob was truncated, want 1", failed)
	}
}

// TestServeBlobsRefusals: serve says clearly why it cannot use a blob
// store, and exits, rather than start without it.
func TestServeBlobsRefusals(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	base := append(os.Environ(), "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE=")
	good := st.Env()
	bad := []string{"AWS_ACCESS_KEY_ID=" + st.AccessKey, "AWS_SECRET_ACCESS_KEY=not-the-secret"}
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"missing bucket", good, []string{"--blobs", "s3://no-such-bucket/p?endpoint=" + st.Endpoint},
			"the blob store's bucket no-such-bucket does not exist at " + st.Endpoint + ": create it first"},
		{"wrong secret", bad, []string{"--blobs", "s3://" + bucket + "?endpoint=" + st.Endpoint},
			"refuses access to bucket " + bucket + ": check the credentials"},
		{"unknown parameter", good, []string{"--blobs", "s3://" + bucket + "?endpont=" + st.Endpoint},
			`unknown parameter "endpont"`},
		{"redirect without S3", good, []string{"--redirect-reads"},
			"--redirect-reads needs blobs in an S3 store"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, tt.args...)
			r := runCmd(t, append(base, tt.env...), "", serverBin, args...)
			if r.Err == nil || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("nixbucket %s: %v\n%s\nwant a failure saying %q", strings.Join(args, " "), r.Err, r.Stderr, tt.want)
			}
		})
	}
}
