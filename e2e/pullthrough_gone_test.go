package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPullThroughUpstreamChanged: the upstream (nginx over a cache Nix 2.8
// wrote with xz NARs) is replaced, after the bucket pulled a narinfo, by
// a cache of the same path with zstd NARs (a re-push, or the upstream's
// garbage collection and a rebuild): the pulled narinfo names a NAR file
// the upstream no longer has. The first GET of that NAR is a 404 and the
// bucket drops the pulled narinfo, so Nix 2.8 then substitutes the path
// through the bucket from the upstream's new narinfo, instead of the
// bucket answering for good with a narinfo whose NAR no client can get.
func TestPullThroughUpstreamChanged(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 1, 256, "pullchanged")
	old := upstreamFileCacheWith(t, "upstream-changed-1", "compression=xz", c.Top)
	fresh := upstreamFileCacheWith(t, "upstream-changed-2", "compression=zstd", c.Top)
	up := startUpstreamNginx(t, old.Dir)
	s := pullServer(t, up.URL, old.PublicKey+" "+fresh.PublicKey)
	cache := nixCacheURL(s, nixCacheBucket) // read anonymously: a writer never pulls
	name := nixHashPart(c.Top) + ".narinfo"

	r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+name)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s through the bucket: %d, want the narinfo pulled", name, r.Status)
	}
	pulled := nixParseNarinfo(t, name, []byte(r.Body))

	// The upstream's cache is now the zstd one.
	entries, err := os.ReadDir(old.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(old.Dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", fresh.Dir+"/.", old.Dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	worldReadable(t, old.Dir)

	// A miss Nix can act on (its next substituter), not a 200 cut short.
	if r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+pulled.URL); r.Status != http.StatusNotFound {
		t.Fatalf("GET %s, a NAR the upstream no longer has: %d, want 404", pulled.URL, r.Status)
	}
	c.delete(t)
	nixMustSubstitute(t, cache, fresh.PublicKey, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
}
