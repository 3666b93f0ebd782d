package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullThroughContentAddressed: content-addressed paths (nix-store
// --add, --add-fixed) in an unsigned upstream cache, which Nix 2.8
// substitutes from it directly with require-sigs (a content address
// vouches for itself), substitute through the pull-through bucket too,
// though its upstream-keys signed none of them, and the bucket signs them
// as any pulled path (so nixbucket verify finds no unsigned narinfo). An
// unsigned path that is not content-addressed is still refused.
func TestPullThroughContentAddressed(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	tmp := t.TempDir()
	var paths []string
	for i, args := range [][]string{{"--add"}, {"--add-fixed", "sha256"}} {
		f := filepath.Join(tmp, "ca-"+strings.TrimPrefix(args[0], "--"))
		if err := os.WriteFile(f, []byte(t.Name()+" "+tmp+" "+string(rune('a'+i))), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, strings.TrimSpace(nixMust(t, "nix-store", append(args, f)...)))
	}
	t.Cleanup(func() { nixRun(t, "nix-store", append([]string{"--delete"}, paths...)...) })
	c := nixBuildClosure(t, 1, 16, "pullca")
	_, pub := pushGenerateKey(t, "upstream-ca-1")
	dir := nixFileCache(t, "compression=xz", append(paths, c.Top)...)
	worldReadable(t, dir)
	up := startUpstreamNginx(t, dir)
	s := pullServer(t, up.URL, pub)
	cache := nixCacheURL(s, nixCacheBucket)
	bucketKey := nixServerKey(t, s, nixCacheBucket)

	nixMust(t, "nix-store", append([]string{"--delete"}, paths...)...)
	nixMustSubstitute(t, cache, bucketKey, nixNoNetrc(t), paths...)
	for _, p := range paths {
		if ni := nixGetNarinfo(t, s, nixCacheBucket, p); !ni.Verify(nixPublicKey(t, bucketKey)) || ni.CA == "" {
			t.Errorf("%s: pulled narinfo has CA %q and signatures %q, want its CA and the bucket's signature", p, ni.CA, ni.Sigs)
		}
	}
	nixAdmin(t, s, "verify", nixCacheBucket)
	c.delete(t)
	if r := nixSubstitute(t, cache, bucketKey, nixNoNetrc(t), c.Top); r.Err == nil {
		t.Errorf("an unsigned input-addressed path was substituted through the bucket")
	}
}
