package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullThroughNoFileHash: an upstream in nix-serve's (and harmonia's)
// shape, whose narinfos have Compression none and no FileHash or FileSize
// (nginx over a cache Nix 2.8 wrote, those lines removed), is pulled
// through: the NAR is checked by NarHash and NarSize, and Nix 2.8, which
// refuses a narinfo without FileHash, substitutes from the bucket.
func TestPullThroughNoFileHash(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 3, 64, "pullnofilehash")
	uc := upstreamFileCacheWith(t, "upstream-nixserve-1", "compression=none", c.Top)
	dir, pub := uc.Dir, uc.PublicKey
	for _, p := range c.Paths {
		file := filepath.Join(dir, nixHashPart(p)+".narinfo")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for line := range strings.Lines(string(b)) {
			if !strings.HasPrefix(line, "FileHash:") && !strings.HasPrefix(line, "FileSize:") {
				kept = append(kept, line)
			}
		}
		if err := os.WriteFile(file, []byte(strings.Join(kept, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	up := startUpstreamNginx(t, dir)
	s := pullServer(t, up.URL, pub)
	cache := nixCacheURL(s, nixCacheBucket)
	c.delete(t)
	nixMustSubstitute(t, cache, pub, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	for _, p := range c.Paths {
		ni := nixGetNarinfo(t, s, nixCacheBucket, p)
		if ni.FileHash != ni.NarHash || ni.FileSize != ni.NarSize {
			t.Errorf("%s: pulled narinfo has FileHash %q FileSize %d, want its NarHash and NarSize", p, ni.FileHash, ni.FileSize)
		}
	}
}
