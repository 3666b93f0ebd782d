package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullThroughPrivateBucket: a pull-through bucket under the seed's
// authenticated-read policy (shared/fixtures/policies, unchanged). An
// anonymous caller and a user the policy does not name learn nothing
// (401/403 for a narinfo, a NAR, a listing or a log, before and after the
// path was pulled) and trigger no upstream request; cache-reader
// substitutes with Nix 2.8 through its netrc credentials and pulls.
func TestPullThroughPrivateBucket(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 2, 16, "pullprivate")
	uc := upstreamFileCacheWith(t, "upstream-private-1", "compression=zstd&write-nar-listing=1", c.Top)
	pub := uc.PublicKey
	up := startUpstreamNginx(t, uc.Dir)

	e := seedStart(t)
	reader := e.createUser("cache-reader", "")
	other := e.createUser("cache-other", "")
	e.admin("bucket", "policy", "set", seedBucket, seedPolicy(t, "seed-authenticated-read.bucket.json"))
	e.admin("bucket", "set", seedBucket, "upstreams="+up.URL, "upstream-keys="+pub)
	cache := nixCacheURL(e.s, seedBucket)
	netrc := func(k seedKey) string {
		f := filepath.Join(t.TempDir(), "netrc")
		if err := os.WriteFile(f, fmt.Appendf(nil, "machine 127.0.0.1 login %s password %s\n", k.ID, k.Secret), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	readerNetrc, otherNetrc := netrc(reader), netrc(other)
	drv := strings.TrimSpace(nixMust(t, "nix-store", "--query", "--deriver", c.Top))
	hash := nixHashPart(c.Top)
	keys := []string{hash + ".narinfo", hash + ".ls", "log/" + filepath.Base(drv)}
	refused := func(when string) {
		t.Helper()
		for _, who := range []struct{ name, netrc string }{{"anonymous", ""}, {"cache-other", otherNetrc}} {
			for _, key := range keys {
				for _, m := range []string{http.MethodGet, http.MethodHead} {
					if r := nixHTTP(t, who.netrc, m, cache+"/"+key); r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
						t.Errorf("%s: %s %s %s: %d, want 401 or 403", when, who.name, m, key, r.Status)
					}
				}
			}
		}
	}
	refused("before any pull")
	if reqs := up.Requests(t); len(reqs) != 0 {
		t.Fatalf("refused callers made the bucket ask its upstream: %v", reqs)
	}

	c.delete(t)
	nixMustSubstitute(t, cache, pub, readerNetrc, c.Top)
	c.checkDumps(t)
	n := len(up.Requests(t))
	ni := nixGetNarinfo(t, e.s, seedBucket, c.Top)
	keys = append(keys, ni.URL)
	refused("after the pull")
	if reqs := up.Requests(t); len(reqs) != n {
		t.Errorf("refused callers made the bucket ask its upstream: %v", reqs[n:])
	}
}
