package e2e

import (
	"testing"
)

// TestCacheInfoSettings changes a bucket's nix-cache-info with `nixbucket
// bucket set` from another process while the server runs: the server
// remembers the answer, and must serve the new one at once.
func TestCacheInfoSettings(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s has no nix-cache-info", target)
	}
	s := startServer(t)
	url := nixCacheURL(s, "nix-cache") + "/nix-cache-info"
	get := func() string {
		t.Helper()
		r := runCmd(t, nil, "", "curl", "-sS", "--fail", "--netrc-file", nixNetrc(s), url)
		if r.Err != nil {
			t.Fatalf("curl %s: %v\n%s", url, r.Err, r.Stderr)
		}
		return r.Stdout
	}
	if got, want := get(), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"; got != want {
		t.Fatalf("nix-cache-info %q, want the defaults %q", got, want)
	}
	get() // now from memory
	nixAdmin(t, s, "bucket", "set", "nix-cache", "priority=7", "want-mass-query=0")
	if got, want := get(), "StoreDir: /nix/store\nWantMassQuery: 0\nPriority: 7\n"; got != want {
		t.Fatalf("after bucket set: nix-cache-info %q, want %q", got, want)
	}
}
