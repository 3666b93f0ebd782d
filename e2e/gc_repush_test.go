package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNixGCRePushRace: a push that died left a path's NAR without its
// narinfo. Run again, the client finds the NAR (HEAD), skips it and sends
// only the narinfo; a GC deletes the NAR, an orphan past the grace
// period, right between the two. The narinfo must not be accepted
// without its NAR:
//   - real Nix (http://) is refused, so `nix copy` fails; the next `nix
//     copy` uploads the NAR again;
//   - nixbucket push, refused the same way, finds the NAR gone, sends it
//     and the narinfo again, and succeeds in the one run.
//
// Either way the closure then substitutes with signatures required. (The
// narrower windows, a GC between the server's look at the NAR and the
// narinfo's commit, are the stores' and the collector's: metatest
// RaceCollectNarinfoShared, gc's TestCollectNarClaimedDuringDeletes and
// TestCollectNarinfoAfterNARDelete.)
func TestNixGCRePushRace(t *testing.T) {
	t.Run("Nix", func(t *testing.T) {
		r := gcRePushRace(t, func(t *testing.T, s *Server, to, path string) cmdResult {
			return nixRun(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
				"--to", to+"?compression=none", path)
		})
		if r.Err == nil {
			t.Fatalf("nix copy succeeded with its path's NAR collected under it")
		}
		if !strings.Contains(r.Stderr, "upload the NAR first") {
			t.Errorf("nix copy failed, but not on the missing NAR:\n%s", tail(r.Stderr, 4000))
		}
		t.Logf("nix copy, refused:\n%s", tail(r.Stderr, 2000))
	})
	t.Run("Push", func(t *testing.T) {
		r := gcRePushRace(t, func(t *testing.T, s *Server, to, path string) cmdResult {
			return pushRun(t, pushEnv(t), "--netrc-file", nixNetrc(s), "--to", to+"?compression=none", path)
		})
		if r.Err != nil {
			t.Fatalf("nixbucket push with its path's NAR collected under it: %v\n%s", r.Err, tail(r.Stderr, 4000))
		}
	})
}

// gcRePushRace sets the race up for one client: it pushes a closure with
// Nix, deletes its top narinfo (the push that died), then runs push
// through a proxy that runs the GC when the top narinfo arrives. It
// checks the GC collected the NAR, then that the closure substitutes once
// Nix pushed it again (a no-op when push succeeded), and returns the
// racing push's result.
func gcRePushRace(t *testing.T, push func(t *testing.T, s *Server, to, path string) cmdResult) cmdResult {
	t.Parallel()
	s := nixStart(t)
	bucket := nixCacheBucket
	cache := nixCacheURL(s, bucket)
	serverKey := nixServerKey(t, s, bucket)
	g := gcBuild(t, 1, gcTag("gcrepush"))
	t.Cleanup(func() {
		for _, p := range g.paths() {
			nixRun(t, "nix-store", "--delete", p)
		}
	})
	nixCopy := func() {
		nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
			"--to", cache+"?compression=none", g.top)
	}

	// The push that died: everything up but the top's narinfo.
	nixCopy()
	narURL := nixGetNarinfo(t, s, bucket, g.top).URL
	topNarinfo := "/" + bucket + "/" + nixHashPart(g.top) + ".narinfo"
	if r := nixHTTP(t, nixNetrc(s), http.MethodDelete, s.Endpoint+topNarinfo); r.Status != http.StatusNoContent && r.Status != http.StatusOK {
		t.Fatalf("DELETE %s: %d", topNarinfo, r.Status)
	}

	// The push again, through a proxy that runs the GC (its clock two
	// hours on, past the hour's grace) when the narinfo arrives, after
	// the client's HEAD of the NAR.
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	var gcOut string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Path == topNarinfo {
			once.Do(func() {
				gcNow := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339Nano)
				gc := runCmd(t, append(nixEnv(t), "NIXBUCKET_GC_NOW="+gcNow), "", serverBin, "gc", bucket, "--data", s.Dir)
				if gc.Err != nil {
					t.Errorf("nixbucket gc: %v\n%s", gc.Err, gc.Stderr)
				}
				gcOut = gc.Stdout
			})
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	r := push(t, s, proxy.URL+"/"+bucket, g.top)
	t.Logf("nixbucket gc during the push:\n%s", gcOut)
	if !strings.Contains(gcOut, "orphan:        0 paths, 1 NARs") {
		t.Fatalf("the GC did not collect the left NAR %s during the push:\n%s", narURL, gcOut)
	}
	if r.Err != nil {
		if resp := nixHTTP(t, nixNetrc(s), http.MethodHead, s.Endpoint+topNarinfo); resp.Status != http.StatusNotFound {
			t.Errorf("HEAD %s after the refusal: %d, want 404", topNarinfo, resp.Status)
		}
		nixCopy() // uploads the NAR, then the narinfo
	}
	gcDelete(t, g.paths()...)
	nixMustSubstitute(t, cache, serverKey, nixNetrc(s), g.top)
	return r
}
