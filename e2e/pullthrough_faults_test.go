package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// faultUpstream serves a binary-cache directory over HTTP and, for the
// paths told to, fails the way broken upstreams do.
type faultUpstream struct {
	*httptest.Server
	dir    string
	mu     sync.Mutex
	faults map[string]string // URL path → fault
}

func startFaultUpstream(t *testing.T, dir string) *faultUpstream {
	t.Helper()
	u := &faultUpstream{dir: dir, faults: map[string]string{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *faultUpstream) set(path, fault string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if fault == "" {
		delete(u.faults, path)
	} else {
		u.faults[path] = fault
	}
}

func (u *faultUpstream) serve(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	fault := u.faults[r.URL.Path]
	u.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(u.dir, filepath.FromSlash(r.URL.Path)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch fault {
	case "500":
		http.Error(w, "upstream trouble", http.StatusInternalServerError)
	case "short-length": // a Content-Length shorter than the file, and as many bytes
		w.Header().Set("Content-Length", strconv.Itoa(len(b)-100))
		w.Write(b[:len(b)-100])
	case "reset": // the connection reset halfway through the body
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	default:
		w.Write(b)
	}
}

// TestPullThroughUpstreamFaults: a NAR the upstream (a Go server over a
// cache Nix 2.8 wrote) answers with a 500, with a Content-Length shorter
// than the file, or by resetting the connection halfway, makes Nix 2.8
// fail on the path (never a complete 200 of a short NAR), stores nothing,
// keeps other paths pulling (after the 500),
// and once the upstream is well again the same substitution succeeds
// (after the short length, a file of another size than the narinfo's, the
// pulled narinfo was dropped and is pulled afresh).
func TestPullThroughUpstreamFaults(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	faults := []string{"500", "short-length", "reset"}
	var closures []*nixClosure
	var paths []string
	for _, f := range faults {
		c := nixBuildClosure(t, 1, 512, "pullfault-"+f)
		closures = append(closures, c)
		paths = append(paths, c.Top)
	}
	other := nixBuildClosure(t, 1, 16, "pullfault-other")
	uc := upstreamFileCacheWith(t, "upstream-faults-1", "compression=xz", append(paths, other.Top)...)
	up := startFaultUpstream(t, uc.Dir)
	s := pullServer(t, up.URL, uc.PublicKey)
	cache := nixCacheURL(s, nixCacheBucket)
	// The narinfos first: a failed NAR request has the bucket skip the
	// upstream's narinfo lookups for a few seconds.
	for _, p := range paths {
		if r := nixHTTP(t, "", http.MethodGet, cache+"/"+nixHashPart(p)+".narinfo"); r.Status != http.StatusOK {
			t.Fatalf("GET the narinfo of %s: %d", p, r.Status)
		}
	}
	for i, fault := range faults {
		c := closures[i]
		t.Run(fault, func(t *testing.T) {
			narPath := "/" + uc.narURL(t, c.Top)
			ni := nixGetNarinfo(t, s, nixCacheBucket, c.Top)
			up.set(narPath, fault)
			c.delete(t)
			if r := nixSubstitute(t, cache, uc.PublicKey, nixNoNetrc(t), c.Top); r.Err == nil {
				t.Fatalf("nix-store -r succeeded with the upstream's NAR failing (%s)", fault)
			}
			if v := nixRun(t, "nix-store", "--check-validity", c.Top); v.Err == nil {
				t.Errorf("%s is valid after a failed substitution", c.Top)
			}
			if r := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+ni.URL); r.Status != http.StatusNotFound {
				t.Errorf("HEAD %s as a writer after the failure: %d, want 404 (nothing stored)", ni.URL, r.Status)
			}
			if fault == "500" {
				// A prompt error answer for one NAR does not make the
				// bucket skip the upstream: a path not pulled yet is
				// pulled right after (skipped, its narinfo would be a
				// 404, which Nix remembers for an hour).
				other.delete(t)
				nixMustSubstitute(t, cache, uc.PublicKey, nixNoNetrc(t), other.Top)
				other.checkDumps(t)
			}
			up.set(narPath, "")
			nixMustSubstitute(t, cache, uc.PublicKey, nixNoNetrc(t), c.Top)
			c.checkDumps(t)
		})
	}
}

// TestPullThroughUpstreamTrickle: an upstream that answers narinfo
// requests at once and then trickles the body, a byte at a time, is taken
// for down once a narinfo was not read whole within twice upstream-timeout:
// the next miss does not ask it (before, each lookup waited out the
// bucket's 10 s bound and the upstream was asked every time).
func TestPullThroughUpstreamTrickle(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	var mu sync.Mutex
	asked := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
		for range 200 {
			w.Write([]byte("S"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(up.Close)
	_, pub := pushGenerateKey(t, "upstream-trickle-1")
	s := pullServer(t, up.URL, pub, "upstream-timeout=500ms")
	cache := nixCacheURL(s, nixCacheBucket)
	for _, hash := range []string{"0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh", "1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"} {
		if r := nixHTTP(t, "", http.MethodGet, cache+"/"+hash+".narinfo"); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
			t.Errorf("GET narinfo from a trickling upstream: %d, want 404 (or 403 without s3:ListBucket)", r.Status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if asked != 1 {
		t.Errorf("the trickling upstream was asked %d times, want once (then skipped while down)", asked)
	}
}
