package e2e

import (
	"strings"
	"testing"
)

// TestNixAnonymousPushToPublicCache: once a cache is public (the README's
// `bucket policy set nix-cache anonymous-read`), a `nix copy --to` that
// forgot its netrc is refused with 403, not challenged (a public cache
// never answers 401). Nix 2.8 prints the answer's body, so the body says
// what is wrong and what to do, not only "Access Denied".
func TestNixAnonymousPushToPublicCache(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	nixAdmin(t, s, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	c := nixBuildClosure(t, 1, 1, "anonymous-push")
	r := nixRun(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNoNetrc(t),
		"--to", nixCacheURL(s, nixCacheBucket), c.Top)
	if r.Err == nil {
		t.Fatalf("an anonymous nix copy to the public %s succeeded:\n%s", nixCacheBucket, r.Stderr)
	}
	for _, want := range []string{"HTTP error 403", "anonymous callers may not write to " + nixCacheBucket, "netrc-file"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("nix copy without credentials to a public cache: stderr lacks %q:\n%s", want, tail(r.Stderr, 4000))
		}
	}
}
