package e2e

import (
	"crypto/sha256"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
)

// TestClusterBlobCache: two nodes on PostgreSQL and versitygw, with the
// blob cache on (the default with --blobs s3://…). Nix 2.8 pushes a
// closure through A; B serves its NAR. The first GET through B streams
// from the store and fills B's cache; a later GET, a Range GET and
// `nix copy --from B` are served from B's local copy (its metrics count
// the hits), with the same bytes as the first. Once A deletes the object,
// B answers 404 at once, though its local copy of the blob is still on
// its disk: reads go through the shared metadata first. promtool lints
// the metrics.
func TestClusterBlobCache(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := startCluster(t, 2)
	a, b := c.Nodes[0], c.Nodes[1]
	netrc := nixNetrc(a) // the nodes share the admin key
	key := c.publicKey(t, nixCacheBucket)
	// 2 MiB of random bytes, uncompressed: a blob well over the cache's
	// minimum of 256 KiB.
	cl := nixBuildClosure(t, 1, 2<<10, "blobcache")
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", netrc,
		"--to", nixCacheURL(a, nixCacheBucket)+"?compression=none", cl.Top)
	ni := nixGetNarinfo(t, b, nixCacheBucket, cl.Top)
	narURL := nixCacheURL(b, nixCacheBucket) + "/" + ni.URL

	want := `msg="keeping hot blobs of the blob store on local disk" blob-cache=` + filepath.Join(b.Dir, "blobcache") + ` blob-cache-size="10.0 GiB"`
	if log := b.logWith(want); !strings.Contains(log, want) {
		t.Errorf("B's log lacks %q:\n%s", want, tail(log, 3000))
	}
	if v := blobCacheMetric(t, b, "nixbucket_blob_cache_max_bytes"); v != 10<<30 {
		t.Errorf("nixbucket_blob_cache_max_bytes %v, want the default 10 GiB", v)
	}
	first := nixHTTP(t, netrc, http.MethodGet, narURL)
	sum := sha256.Sum256([]byte(first.Body))
	if first.Status != http.StatusOK || uint64(len(first.Body)) != ni.FileSize || "sha256:"+nixbase32.EncodeToString(sum[:]) != ni.FileHash {
		t.Fatalf("first GET %s through B: %d with %d bytes, want 200 and the NAR (%d bytes, %s)", ni.URL, first.Status, len(first.Body), ni.FileSize, ni.FileHash)
	}
	if h, m := blobCacheMetric(t, b, "nixbucket_blob_cache_hits_total"), blobCacheMetric(t, b, "nixbucket_blob_cache_misses_total"); h != 0 || m != 1 {
		t.Fatalf("after the first GET: %v hits, %v misses; want a miss", h, m)
	}
	// The fill runs beside the first GET; wait for it (generously: the
	// machine is shared).
	deadline := time.Now().Add(time.Minute)
	for blobCacheMetric(t, b, `nixbucket_blob_cache_fills_total{result="done"}`) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no fill done a minute after the first GET; failed: %v", blobCacheMetric(t, b, `nixbucket_blob_cache_fills_total{result="failed"}`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := countFiles(filepath.Join(b.Dir, "blobcache", "blobs")); n != 1 {
		t.Fatalf("%d files in B's blob cache, want the NAR's blob", n)
	}
	if n := countFiles(filepath.Join(a.Dir, "blobcache", "blobs")); n != 0 {
		t.Errorf("%d files in A's blob cache, which served no GET", n)
	}

	second := nixHTTP(t, netrc, http.MethodGet, narURL)
	if second.Status != http.StatusOK || second.Body != first.Body {
		t.Fatalf("second GET through B: %d with %d bytes, want 200 and the bytes of the first", second.Status, len(second.Body))
	}
	if ct := second.Header.Get("Content-Type"); ct != "application/x-nix-nar" || second.Header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("second GET: Content-Type %q, Accept-Ranges %q", ct, second.Header.Get("Accept-Ranges"))
	}
	rng := nixHTTP(t, netrc, http.MethodGet, narURL, "-H", "Range: bytes=1000000-1000099")
	if rng.Status != http.StatusPartialContent || rng.Body != first.Body[1000000:1000100] {
		t.Errorf("Range GET through B: %d with %d bytes, want 206 and the 100 bytes", rng.Status, len(rng.Body))
	}
	if h := blobCacheMetric(t, b, "nixbucket_blob_cache_hits_total"); h != 2 {
		t.Fatalf("after a GET and a Range GET: %v hits, want 2", h)
	}

	// nix copy --from B into a file:// cache: the same NAR, from the copy.
	dir := t.TempDir()
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", netrc,
		"--option", "trusted-public-keys", key,
		"--from", nixCacheURL(b, nixCacheBucket), "--to", "file://"+dir+"?compression=none", cl.Top)
	copied, err := os.ReadFile(filepath.Join(dir, ni.URL))
	if err != nil {
		t.Fatalf("the NAR nix copy --from B wrote: %v", err)
	}
	if string(copied) != first.Body {
		t.Fatalf("nix copy --from B wrote %d bytes that differ from curl's %d", len(copied), len(first.Body))
	}
	// And substitution into the store, signatures required.
	cl.delete(t)
	nixMustSubstitute(t, nixCacheURL(b, nixCacheBucket), key, netrc, cl.Top)
	cl.checkDumps(t)
	if h := blobCacheMetric(t, b, "nixbucket_blob_cache_hits_total"); h != 4 {
		t.Errorf("after nix copy --from and substitution: %v hits, want 4", h)
	}

	// The blob cache's series pass promtool's lint.
	promtool := need(t, "promtool")
	mdir := t.TempDir()
	mustRun(t, b.clientEnv(), mdir, "curl", "-sSf", "-o", filepath.Join(mdir, "metrics.txt"), b.Endpoint+"/-/metrics")
	if r := runCmd(t, nil, mdir, "sh", "-c", promtool+" check metrics < metrics.txt"); r.Err != nil {
		t.Errorf("promtool check metrics: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}

	// A deletes the object; B answers 404 at once.
	s3 := newRawS3(a.AccessKey, a.SecretKey)
	defer s3.close()
	s3.must(t, http.StatusNoContent, http.MethodDelete, a.Endpoint, "/"+nixCacheBucket+"/"+ni.URL, nil)
	if r := nixHTTP(t, netrc, http.MethodGet, narURL); r.Status != http.StatusNotFound {
		t.Errorf("GET through B after A deleted the NAR: %d, want 404", r.Status)
	}
	if h := blobCacheMetric(t, b, "nixbucket_blob_cache_hits_total"); h != 4 {
		t.Errorf("the GET of the deleted NAR counted a hit (%v)", h)
	}
}

// blobCacheMetric scrapes s's /-/metrics (as a loopback caller) for the
// value of one series.
func blobCacheMetric(t *testing.T, s *Server, series string) float64 {
	t.Helper()
	v, ok := metricValue(t, s, series)
	if !ok {
		t.Fatalf("no series %s in /-/metrics of %s", series, s.Endpoint)
	}
	return v
}

// metricsText scrapes s's /-/metrics as a loopback caller.
func metricsText(t *testing.T, s *Server) string {
	t.Helper()
	resp, err := http.Get(s.Endpoint + "/-/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// metricValue scrapes s's /-/metrics (as a loopback caller) for the value
// of one series, written as the exposition format writes it
// (name{label="value",…}); ok is false when s exports no such series.
func metricValue(t *testing.T, s *Server, series string) (float64, bool) {
	t.Helper()
	for line := range strings.SplitSeq(metricsText(t, s), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f, true
		}
	}
	return 0, false
}
