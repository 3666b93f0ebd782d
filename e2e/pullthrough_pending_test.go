package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPullThroughVerifyPending: Nix substitutes part of a closure through
// a pull-through bucket, and curl then asks for every narinfo of it, so
// the bucket holds narinfos whose NARs are still upstream only. `nixbucket
// verify` exits 0 and counts them apart; `verify --repair` keeps them;
// a later substitution of the whole closure fetches the rest (each NAR
// once), after which verify finds nothing pending.
func TestPullThroughVerifyPending(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 8, 16, "pullverify")
	up := startPullUpstream(t, c.Top)
	s := pullServer(t, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)

	// Part of the closure: a path below the top, with its own closure.
	part := c.Paths[len(c.Paths)/2]
	c.delete(t)
	nixMustSubstitute(t, cache, up.PubKey, nixNoNetrc(t), part)
	fetched, _ := narRequests(up.requests(t))
	for _, p := range c.Paths {
		if r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+nixHashPart(p)+".narinfo"); r.Status != http.StatusOK {
			t.Fatalf("GET narinfo of %s: %d %s", p, r.Status, r.Body)
		}
	}
	pending := len(c.Paths) - fetched
	if fetched == 0 || pending == 0 {
		t.Fatalf("substituting %s fetched %d of the %d NARs; want some, not all", part, fetched, len(c.Paths))
	}
	if _, total := narRequests(up.requests(t)); total != fetched {
		t.Fatalf("narinfo GETs fetched NARs upstream: %d NAR requests, %d before", total, fetched)
	}
	wantLine := fmt.Sprintf("pulled, NAR not fetched yet (its first GET fetches it from upstream): %d (not a problem)", pending)

	out := nixAdmin(t, s, "verify", nixCacheBucket) // fails the test unless it exits 0
	t.Logf("verify:\n%s", out)
	if !strings.Contains(out, wantLine) || !strings.Contains(out, "clean: no problems") {
		t.Errorf("verify does not report %d pending NARs and no problem:\n%s", pending, out)
	}
	out = nixAdmin(t, s, "verify", nixCacheBucket, "--repair")
	if !strings.Contains(out, wantLine) || strings.Contains(out, "removed") {
		t.Errorf("verify --repair:\n%s\nwant the %d pending NARs reported and nothing removed", out, pending)
	}
	if n := nixCachePaths(t, s, nixCacheBucket); n != len(c.Paths) {
		t.Errorf("bucket holds %d paths after verify --repair, want all %d", n, len(c.Paths))
	}

	// The rest of the closure still substitutes, trusting only the
	// bucket's key, and each NAR came from upstream once.
	nixMustSubstitute(t, cache, nixServerKey(t, s, nixCacheBucket), nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	if files, total := narRequests(up.requests(t)); files != len(c.Paths) || total != len(c.Paths) {
		t.Errorf("upstream served %d NAR requests for %d files, want each of the %d NARs once", total, files, len(c.Paths))
	}
	out = nixAdmin(t, s, "verify", nixCacheBucket)
	if strings.Contains(out, "not fetched yet") || !strings.Contains(out, "clean: no problems") {
		t.Errorf("verify after the whole closure was substituted:\n%s\nwant nothing pending", out)
	}
}

// TestPullThroughUpstreamMute: an upstream that accepts connections and
// never answers costs the first narinfo miss the bucket's narinfo timeout
// (upstream-timeout, 3 s by default), not the 10 s a request upstream may
// take in all; the next miss answers at once, the source being skipped
// while down. The bounds are the generous ones the issue names (a fast 404
// under a second), plus the timeout for the first.
func TestPullThroughUpstreamMute(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-accepted
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	_, pubFile := nixGenerateKey(t, "upstream-mute-1")
	pub, _ := os.ReadFile(pubFile)
	s := pullServer(t, "http://"+l.Addr().String(), strings.TrimSpace(string(pub)))
	if info := nixAdmin(t, s, "bucket", "info", nixCacheBucket); !strings.Contains(info, "upstream-timeout:      3s") {
		t.Errorf("bucket info does not show the default upstream-timeout:\n%s", info)
	}
	cache := nixCacheURL(s, nixCacheBucket)
	get := func(hash string) time.Duration {
		t.Helper()
		start := time.Now()
		r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+hash+".narinfo")
		took := time.Since(start)
		if r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
			t.Errorf("GET narinfo from a mute upstream: %d, want 404 (or 403 without s3:ListBucket)", r.Status)
		}
		return took
	}
	first := get("0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh")
	second := get("1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh")
	t.Logf("narinfo GETs with a mute upstream: first %s, second %s", first, second)
	if first >= 3*time.Second+2*time.Second {
		t.Errorf("first narinfo GET took %s, want the 3 s narinfo timeout (and some slack)", first)
	}
	if second >= time.Second {
		t.Errorf("second narinfo GET took %s, want under 1 s (the source skipped while down)", second)
	}
	mu.Lock()
	n := len(conns)
	mu.Unlock()
	if n == 0 {
		t.Errorf("the server never connected to the mute upstream")
	}

	// A shorter per-bucket timeout takes effect without a restart (the
	// new settings make a new fetcher, whose source is not down).
	nixAdmin(t, s, "bucket", "set", nixCacheBucket, "upstream-timeout=500ms")
	if took := get("2c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"); took >= 500*time.Millisecond+2*time.Second {
		t.Errorf("narinfo GET with upstream-timeout=500ms took %s", took)
	}
}
