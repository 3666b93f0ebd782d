package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta/backend"
)

// verifyRun runs `nixbucket ARGS --data DIR` and returns its output and
// exit status.
func verifyRun(t *testing.T, s *Server, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	r := nixRun(t, serverBin, append(args, "--data", s.Dir)...)
	var ee *exec.ExitError
	switch {
	case r.Err == nil:
	case errors.As(r.Err, &ee):
		status = ee.ExitCode()
	default:
		t.Fatalf("nixbucket %s: %v", strings.Join(args, " "), r.Err)
	}
	t.Logf("nixbucket %s: exit %d\n%s%s", strings.Join(args, " "), status, r.Stdout, r.Stderr)
	return r.Stdout, r.Stderr, status
}

// verifyWant runs `nixbucket verify` and fails the test unless it exits
// with status and prints every one of want.
func verifyWant(t *testing.T, s *Server, status int, want []string, args ...string) string {
	t.Helper()
	out, errOut, got := verifyRun(t, s, append([]string{"verify", nixCacheBucket}, args...)...)
	if got != status {
		t.Errorf("verify %s: exit %d, want %d\n%s%s", strings.Join(args, " "), got, status, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("verify %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
		}
	}
	return out
}

// verifyBlobFile returns the file holding the blob of an object of the
// nix-cache bucket, from the metadata store (as the admin commands open it).
func verifyBlobFile(t *testing.T, s *Server, key string) string {
	t.Helper()
	store, err := backend.OpenExisting(s.Dir, s.metaURL())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	obj, err := store.Object(context.Background(), nixCacheBucket, key)
	if err != nil {
		t.Fatalf("object %s: %v", key, err)
	}
	id := obj.Segments[0].Blob
	if id == "" {
		t.Fatalf("object %s is stored inline, not in a blob", key)
	}
	return s.blobFile(id)
}

// layer returns the path of the closure whose name ends in -layer-i.
func (c *nixClosure) layer(t *testing.T, i int) string {
	t.Helper()
	for _, p := range c.Paths {
		if strings.HasSuffix(p, "-layer-"+strconv.Itoa(i)) {
			return p
		}
	}
	t.Fatalf("no layer %d in %v", i, c.Paths)
	return ""
}

// TestVerifyNix pushes a closure with Nix 2.8, then breaks the bucket in
// the ways verify must find (a NAR corrupted on disk, a missing
// reference, an orphan blob) and repairs it each time.
func TestVerifyNix(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	c := nixBuildClosure(t, 4, 64, "verify") // layer i refers to i-1 and 0
	cache := nixCacheURL(s, nixCacheBucket)
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
		"--to", cache+"?compression=zstd&write-nar-listing=1", c.Top)

	t.Run("clean", func(t *testing.T) {
		verifyWant(t, s, 0, []string{"verify nix-cache: 4 narinfos", "clean: no problems"})
		verifyWant(t, s, 0, []string{"re-hashed and decoded", "clean: no problems"}, "--deep", "--jobs", "1")
	})

	l0, l1, l2, l3 := c.layer(t, 0), c.layer(t, 1), c.layer(t, 2), c.layer(t, 3)
	t.Run("corrupt-nar", func(t *testing.T) {
		ni := nixGetNarinfo(t, s, nixCacheBucket, l2)
		f := verifyBlobFile(t, s, ni.URL)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x55 // same size, another hash
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		verifyWant(t, s, 1, []string{"FileHash does not match the NAR: 1", l2, "--repair"})
		verifyWant(t, s, 0, []string{"removed " + l2 + " (broken)", "removed " + l3 + " (refers to a broken path)",
			"removed 2 narinfos, 2 NARs, 2 listings", "nixbucket gc nix-cache"}, "--repair")
		verifyWant(t, s, 0, []string{"verify nix-cache: 2 narinfos", "clean: no problems"})
		for _, p := range []string{l2, l3} {
			if r := nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+nixHashPart(p)+".narinfo"); r.Status != http.StatusNotFound {
				t.Errorf("GET %s narinfo after repair: %d, want 404", p, r.Status)
			}
		}
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("the corrupt NAR's blob %s: %v, want it deleted", f, err)
		}
	})

	t.Run("missing-reference", func(t *testing.T) {
		// layer 1 refers to layer 0; delete layer 0's narinfo the S3 way.
		mustRun(t, s.clientEnv(), t.TempDir(), "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket",
			"s3api", "delete-object", "--bucket", nixCacheBucket, "--key", nixHashPart(l0)+".narinfo")
		verifyWant(t, s, 1, []string{"reference missing: 1", l1})
		verifyWant(t, s, 0, []string{"removed " + l1 + " (broken)", "removed 1 narinfos, 1 NARs"}, "--repair")
		// Layer 0's NAR, which no narinfo names now, is gc's to collect.
		verifyWant(t, s, 0, []string{"verify nix-cache: 0 narinfos", "clean: no problems"})
	})

	t.Run("orphan-blob", func(t *testing.T) {
		// A committed blob nothing refers to, as a crash between a blob's
		// commit and its metadata leaves; and a young one, which may be an
		// upload in flight.
		mk := func(age time.Duration) string {
			var id [16]byte
			rand.Read(id[:])
			h := hex.EncodeToString(id[:])
			f := s.blobFile(h)
			if err := os.WriteFile(f, []byte("orphan"), 0o600); err != nil {
				t.Fatal(err)
			}
			when := time.Now().Add(-age)
			if err := os.Chtimes(f, when, when); err != nil {
				t.Fatal(err)
			}
			return f
		}
		old, young := mk(3*time.Hour), mk(0)
		verifyWant(t, s, 1, []string{"orphan blob: 1", filepath.Base(old), "not judged: 1 unreferenced blobs younger than 1h0m0s"})
		verifyWant(t, s, 0, []string{"removed 1 orphan blobs: " + filepath.Base(old)}, "--repair")
		if _, err := os.Stat(old); !os.IsNotExist(err) {
			t.Errorf("orphan %s: %v, want it deleted", old, err)
		}
		if _, err := os.Stat(young); err != nil {
			t.Errorf("young blob %s: %v, want it kept", young, err)
		}
		verifyWant(t, s, 0, []string{"clean: no problems"})
	})
}
