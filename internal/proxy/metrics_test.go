package proxy

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// TestMetrics: each request, NAR source, upstream request and cache
// event shows in the metrics, with the values the requests made.
func TestMetrics(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	p := makePath(t, key, 200<<10)
	q := makePath(t, key, 200<<10)
	up := newFake(t, p, q)
	// Room for one NAR: the second evicts the first.
	srv, m := startMetered(t, up, key.Public(), filepath.Join(t.TempDir(), "cache"), 300<<10)

	mustGet(t, srv.URL+"/"+p.hash+".narinfo", 200)
	mustGet(t, srv.URL+"/"+p.url, 200)                        // a download
	mustGet(t, srv.URL+"/"+p.url, 206, "Range", "bytes=0-99") // the disk cache
	mustGet(t, srv.URL+"/"+q.hash+".narinfo", 200)
	mustGet(t, srv.URL+"/"+q.url, 200) // evicts p's
	mustGet(t, srv.URL+"/"+strings.Repeat("1", 32)+".narinfo", 404)
	mustGet(t, srv.URL+"/nar/"+strings.Repeat("2", 52)+".nar.xz", 404) // unknown: passed through, the upstream lacks it
	mustGet(t, srv.URL+"/no/such/thing", 404)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, MetricsPath, nil))
	text := rec.Body.String()
	nar := len(p.nar)
	for _, want := range []string{
		`nixbucket_proxy_requests_total{class="2xx",operation="Narinfo"} 2`,
		`nixbucket_proxy_requests_total{class="4xx",operation="Narinfo"} 1`,
		`nixbucket_proxy_requests_total{class="2xx",operation="Nar"} 3`,
		`nixbucket_proxy_requests_total{class="4xx",operation="Nar"} 1`,
		`nixbucket_proxy_requests_total{class="4xx",operation="Other"} 1`,
		`nixbucket_proxy_nars_total{from="download"} 2`,
		`nixbucket_proxy_nars_total{from="cache"} 1`,
		`nixbucket_proxy_nars_total{from="passthrough"} 1`,
		`nixbucket_proxy_request_duration_seconds_count{operation="Nar"} 4`,
		`nixbucket_proxy_sent_bytes_total{operation="Nar"} ` + itoa(2*nar+100+len("404 page not found\n")),
		`nixbucket_proxy_cache_evictions_total 1`,
		`nixbucket_proxy_cache_evicted_bytes_total ` + itoa(nar),
		`nixbucket_proxy_cache_files 1`,
		`nixbucket_proxy_cache_bytes ` + itoa(len(q.nar)),
		`nixbucket_proxy_cache_max_bytes 307200`,
		`nixbucket_upstream_received_bytes_total{upstream="` + up.URL,
		`nixbucket_upstream_not_found_total{upstream="` + up.URL,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grepProxy(text))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func grepProxy(text string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "nixbucket_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
