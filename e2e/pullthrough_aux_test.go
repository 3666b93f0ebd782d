package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullThroughListingAndLog: the upstream (nginx over a cache Nix 2.8
// wrote with write-nar-listing=1, and the build log copied there by `nix
// store copy-log`) has a path's .ls listing and its build log; an
// anonymous reader of the pull-through bucket gets both, `nix log` shows
// the log from the bucket, and a path the upstream has no log for is a
// miss. Before, the bucket answered both as missing.
func TestPullThroughListingAndLog(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 2, 16, "pullaux")
	uc := upstreamFileCacheWith(t, "upstream-aux-1", "compression=zstd&write-nar-listing=1", c.Top)
	dir, pub := uc.Dir, uc.PublicKey
	drv := strings.TrimSpace(nixMust(t, "nix-store", "--query", "--deriver", c.Top))
	nixMust(t, "nix", "store", "copy-log", "--to", "file://"+dir, drv)
	logFile := filepath.Join(dir, "log", filepath.Base(drv))
	wantLog, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("nix store copy-log left no log: %v", err)
	}
	wantLs, err := os.ReadFile(filepath.Join(dir, nixHashPart(c.Top)+".ls"))
	if err != nil {
		t.Fatal(err)
	}
	worldReadable(t, dir) // the log copied in since
	up := startUpstreamNginx(t, dir)
	s := pullServer(t, up.URL, pub)
	cache := nixCacheURL(s, nixCacheBucket)

	if r := nixHTTP(t, "", http.MethodGet, cache+"/"+nixHashPart(c.Top)+".ls"); r.Status != http.StatusOK || r.Body != string(wantLs) ||
		r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET .ls: %d %q %.200q, want 200 application/json %.200q", r.Status, r.Header.Get("Content-Type"), r.Body, wantLs)
	}
	out := nixMust(t, "nix", "log", "--store", cache, "--option", "netrc-file", nixNoNetrc(t), c.Top)
	if strings.TrimSpace(out) != strings.TrimSpace(string(wantLog)) {
		t.Errorf("nix log from the bucket: %q, want %q", out, wantLog)
	}
	if r := nixHTTP(t, "", http.MethodGet, cache+"/log/"+filepath.Base(drv)+"-none.drv"); r.Status == http.StatusOK {
		t.Errorf("GET of a log the upstream lacks: %d, want a miss", r.Status)
	}
}
