package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// Nix 2.8 pushing over the binary-cache protocol (PUT with netrc
// credentials) to a server whose disk is full gets 507
// XNixbucketStorageFull, before and after a restart on the full disk, and
// pushes again once space is freed.
func TestNixCopyToFullDisk(t *testing.T) {
	for _, p := range []string{"nix", "nix-store", "nix-build", "curl", "sh"} {
		need(t, p)
	}
	sharedDir(t)
	if syscall.Access("/nix/var/nix/db", 2 /* W_OK */) != nil {
		skipOrFail(t, "the Nix store is not writable (run as root)")
	}
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not a Nix binary cache", target)
	}
	mnt := testenv.MountTmpfs(t, "64m")
	s := startServerDir(t, filepath.Join(mnt, "data"))
	c := nixBuildClosure(t, 2, 256, "fulldisk")
	cache := nixCacheURL(s, nixCacheBucket)
	filler := filepath.Join(mnt, "filler")
	testenv.FillDisk(t, filler)

	wantRefused := func(when string) {
		t.Helper()
		r := nixRun(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s), "--to", cache, c.Top)
		if r.Err == nil {
			t.Fatalf("%s: nix copy to a full disk succeeded", when)
		}
		if !strings.Contains(r.Stderr, "507") {
			t.Errorf("%s: nix copy failed without a 507:\n%s", when, tail(r.Stderr, 4000))
		}
		// Nix's PUT, by curl with the same netrc: small, and large enough
		// for curl's Expect: 100-continue.
		for _, size := range []int{1 << 10, 4 << 20} {
			f := filepath.Join(t.TempDir(), "body")
			if err := os.WriteFile(f, make([]byte, size), 0o600); err != nil {
				// The test's temporary directory is not on the full disk.
				t.Fatal(err)
			}
			resp := nixPut(t, nixNetrc(s), cache+"/nar/0000000000000000000000000000000000000000000000000000.nar", f, "application/x-nix-nar")
			if resp.Status != http.StatusInsufficientStorage || resp.Header.Get("X-Nixbucket-Error") != "XNixbucketStorageFull" ||
				!strings.HasPrefix(resp.Body, "507 XNixbucketStorageFull: ") {
				t.Errorf("%s: PUT of %d bytes: %d %q %q, want 507 XNixbucketStorageFull", when, size, resp.Status, resp.Header.Get("X-Nixbucket-Error"), resp.Body)
			}
		}
	}
	wantRefused("full disk")
	if !strings.Contains(s.stderr.String(), "free disk space under the minimum") {
		t.Errorf("the server did not log the drop under the minimum:\n%s", tail(s.stderr.String(), 4000))
	}
	s.Stop()
	s.Restart()
	wantRefused("after a restart on the full disk")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s), "--to", cache, c.Top)
	if n := nixCachePaths(t, s, nixCacheBucket); n != len(c.Paths) {
		t.Errorf("bucket info: %d store paths after space came back, want %d", n, len(c.Paths))
	}
	if !strings.Contains(s.stderr.String(), "accepting writes again") {
		t.Errorf("the server did not log the way back:\n%s", tail(s.stderr.String(), 4000))
	}
}

// The real server's first-start banner, which goes to its log, names the
// credentials file but never holds the secret.
func TestServeBannerHoldsNoSecret(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("the banner is nixbucket's")
	}
	s := startServer(t)
	// The port accepts connections (the kernel queues them) a moment
	// before the banner is printed; "nixbucket serving" comes after it.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "nixbucket serving") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	out := s.stderr.String()
	if !strings.Contains(out, "first start") || !strings.Contains(out, filepath.Join(s.Dir, "credentials")) {
		t.Fatalf("no first-start banner naming the credentials file:\n%s", tail(out, 4000))
	}
	if strings.Contains(out, s.SecretKey) {
		t.Fatalf("the server's log holds the admin secret:\n%s", tail(out, 4000))
	}
}
