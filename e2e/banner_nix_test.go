package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBannerNixLines: a new user copies the banner's Nix lines in order,
// as one user on one machine: "push over HTTP" (nix copy, with ./result
// pointing at a closure), then, with the closure deleted, "substitute".
// Both must work as printed with Nix 2.8, signatures required. Nix
// remembers the narinfos it uploaded, unsigned, in ~/.cache/nix, so a
// substitute line without narinfo-cache-positive-ttl 0 fails here with
// "not signed by any of the keys in 'trusted-public-keys'".
func TestBannerNixLines(t *testing.T) {
	nixNeed(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := bannerStart(t, filepath.Join(t.TempDir(), "data"), fmt.Sprintf("127.0.0.1:%d", port), port)
	info := mustRun(t, os.Environ(), "", serverBin, "info", "--data", s.Dir)
	push, substitute := bannerLine(t, info, "push over HTTP:"), bannerLine(t, info, "substitute:")
	if !strings.Contains(push, "./result") || !strings.Contains(substitute, "/nix/store/...") {
		t.Fatalf("the banner's lines no longer name ./result and /nix/store/...:\n%s\n%s", push, substitute)
	}

	c := nixBuildClosure(t, 2, 16, "banner")
	dir := t.TempDir()
	if err := os.Symlink(c.Top, filepath.Join(dir, "result")); err != nil {
		t.Fatal(err)
	}
	env := nixEnv(t) // one user: the same ~/.cache/nix for both lines
	if r := runCmd(t, env, dir, "bash", "-euc", push); r.Err != nil {
		t.Fatalf("the banner's push line fails: %v\n%s\n%s", r.Err, push, tail(r.Stderr, 8000))
	}
	if err := os.Remove(filepath.Join(dir, "result")); err != nil {
		t.Fatal(err)
	}
	c.delete(t)
	sub := strings.Replace(substitute, "/nix/store/...", strings.Join(c.Paths, " "), 1)
	if r := runCmd(t, env, dir, "bash", "-euc", sub+" --option require-sigs true"); r.Err != nil {
		t.Fatalf("the banner's substitute line fails after its push line, on the same machine: %v\n%s\n%s", r.Err, sub, tail(r.Stderr, 8000))
	}
	c.checkDumps(t)
}

// bannerLine returns the command of the banner's line that starts with
// label ("push over HTTP:"), failing the test when there is none.
func bannerLine(t testing.TB, banner, label string) string {
	t.Helper()
	for l := range strings.Lines(banner) {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(l), label); ok {
			return strings.TrimSpace(cmd)
		}
	}
	t.Fatalf("the banner has no %q line:\n%s", label, banner)
	return ""
}
