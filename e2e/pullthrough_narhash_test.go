package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// TestPullThroughWrongNarHash: the upstream (nginx over a cache Nix 2.8
// wrote with xz NARs) serves a narinfo signed by its trusted key whose
// FileHash and FileSize fit the xz file but whose NarHash is another
// path's. The bucket decodes the file as it streams: Nix 2.8 fails on the
// path without a whole 200, nothing is stored, and the pulled narinfo is
// dropped, so once the upstream's narinfo is fixed the same substitution
// succeeds, instead of the bucket serving the wrong path for good.
func TestPullThroughWrongNarHash(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 2, 512, "pullnarhash")
	uc := upstreamFileCacheWith(t, "upstream-narhash-1", "compression=xz", c.Top)
	dir, pub := uc.Dir, uc.PublicKey
	up := startUpstreamNginx(t, dir)
	s := pullServer(t, up.URL, pub)
	cache := nixCacheURL(s, nixCacheBucket)

	narinfoFile := filepath.Join(dir, nixHashPart(c.Top)+".narinfo")
	good, err := os.ReadFile(narinfoFile)
	if err != nil {
		t.Fatal(err)
	}
	ni := nixParseNarinfo(t, narinfoFile, good)
	ni.NarHash = nixReadNarinfo(t, filepath.Join(dir, nixHashPart(c.Paths[0])+".narinfo")).NarHash
	raw, err := os.ReadFile(uc.Secret)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := signature.ParseSecretKey(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	ni.Sigs = nil
	ni.Sign(sk)
	if err := os.WriteFile(narinfoFile, []byte(ni.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	c.delete(t)
	r := nixSubstitute(t, cache, pub, nixNoNetrc(t), c.Top)
	if r.Err == nil {
		t.Fatalf("nix-store -r succeeded with a wrong NarHash upstream")
	}
	if v := nixRun(t, "nix-store", "--check-validity", c.Top); v.Err == nil {
		t.Errorf("%s is valid after a failed substitution\n%s", c.Top, tail(r.Stderr, 4000))
	}
	bucketNar := cache + "/nar/" + nixHashPart(c.Top) + "-" + strings.TrimPrefix(ni.FileHash, "sha256:") + ".nar.xz"
	for _, u := range []string{bucketNar, cache + "/" + nixHashPart(c.Top) + ".narinfo"} {
		if r := nixHTTP(t, nixNetrc(s), http.MethodHead, u); r.Status != http.StatusNotFound {
			t.Errorf("HEAD %s as a writer after the mismatch: %d, want 404", u, r.Status)
		}
	}
	if v := upstreamMetric(t, s, "nixbucket_upstream_mismatches_total", up.URL); v != 1 {
		t.Errorf("mismatches = %v, want 1", v)
	}

	if err := os.WriteFile(narinfoFile, good, 0o644); err != nil {
		t.Fatal(err)
	}
	nixMustSubstitute(t, cache, pub, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	if r := nixHTTP(t, nixNetrc(s), http.MethodHead, bucketNar); r.Status != http.StatusOK {
		t.Errorf("HEAD %s as a writer after the fix: %d, want it stored", bucketNar, r.Status)
	}
}
