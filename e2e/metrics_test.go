package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// curlPlain makes one unsigned request with curl (Basic credentials when
// user is set) and returns the status and the x-amz-request-id answered.
func curlPlain(t *testing.T, s *Server, method, url, user string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	hdr := filepath.Join(dir, "headers")
	args := []string{"-sS", "-o", "/dev/null", "-D", hdr, "-w", "%{http_code}", "-X", method}
	if method == http.MethodHead {
		args = []string{"-sS", "-o", "/dev/null", "-D", hdr, "-w", "%{http_code}", "-I"} // -X HEAD would wait for a body
	}
	if user != "" {
		args = append(args, "-u", user)
	}
	out := mustRun(t, s.clientEnv(), dir, "curl", append(args, url)...)
	var st int
	if _, err := fmt.Sscan(out, &st); err != nil {
		t.Fatalf("curl %s: status %q", url, out)
	}
	return st, lastHeaderBlock(t, hdr).Get("X-Amz-Request-Id")
}

// TestMetricsPromtool scrapes /-/metrics of a real server with curl after
// S3 and Nix requests, and lints it with promtool; --metrics-listen moves
// the metrics to their own address.
func TestMetricsPromtool(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	promtool := need(t, "promtool")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the metrics are nixbucket's")
	}
	s := startServer(t)
	user := s.AccessKey + ":" + s.SecretKey
	curlPlain(t, s, http.MethodGet, s.Endpoint+"/nix-cache/nix-cache-info", user)
	curlPlain(t, s, http.MethodGet, s.Endpoint+"/nix-cache/00000000000000000000000000000000.narinfo", user)
	curlS3(t, s, http.MethodPut, s.Endpoint+"/nix-cache/hello.txt", "--data-binary", "hello")
	curlS3(t, s, http.MethodGet, s.Endpoint+"/nix-cache/hello.txt")
	dir := t.TempDir()
	// An upload as `nix copy --to http://…` makes it: a plain PUT with Basic.
	if st := mustRun(t, s.clientEnv(), dir, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", user,
		"-X", "PUT", "-H", "Content-Type: text/plain", "--data-binary", "building foo",
		s.Endpoint+"/nix-cache/log/00000000000000000000000000000000-foo.drv"); st != "200" {
		t.Fatalf("plain PUT of a build log: %s", st)
	}

	file := filepath.Join(dir, "metrics.txt")
	mustRun(t, s.clientEnv(), dir, "curl", "-sSf", "-o", file, s.Endpoint+"/-/metrics")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{
		`nixbucket_requests_total{bucket="nix-cache",class="2xx",operation="CacheInfo",protocol="nix"} 1`,
		`nixbucket_requests_total{bucket="nix-cache",class="4xx",operation="Narinfo",protocol="nix"} 1`,
		`nixbucket_requests_total{bucket="nix-cache",class="2xx",operation="PutObject",protocol="s3"} 1`,
		`nixbucket_requests_total{bucket="nix-cache",class="2xx",operation="PutLog",protocol="nix"} 1`,
		`nixbucket_narinfo_lookups_total{bucket="nix-cache",result="miss"} 1`,
		`nixbucket_request_duration_seconds_bucket{operation="GetObject",protocol="s3",le="+Inf"} 1`,
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, tail(grepLines(text, "nixbucket_"), 6000))
		}
	}
	r := runCmd(t, nil, dir, "sh", "-c", promtool+" check metrics < metrics.txt")
	if r.Err != nil {
		t.Errorf("promtool check metrics: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}

	// --metrics-listen: the metrics move there; the main listener has none.
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	m := startServerArgs(t, t.TempDir(), "http", "--metrics-listen", addr)
	if st, _ := curlPlain(t, m, http.MethodGet, m.Endpoint+"/-/metrics", ""); st != http.StatusNotFound {
		t.Errorf("/-/metrics on the main listener with --metrics-listen: %d, want 404", st)
	}
	// A scrape there is a request as any: logged with the request id its
	// client got, and counted, as the next scrape shows.
	st, id := curlPlain(t, m, http.MethodGet, "http://"+addr+"/-/metrics", "")
	if st != http.StatusOK || id == "" {
		t.Fatalf("GET /-/metrics on --metrics-listen: %d, request id %q", st, id)
	}
	mustRun(t, m.clientEnv(), dir, "curl", "-sSf", "-o", file, "http://"+addr+"/-/metrics")
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), `nixbucket_requests_total{bucket="",class="2xx",operation="Metrics",protocol="s3"} 1`) {
		t.Errorf("the metrics listener's scrape is not counted:\n%s", grepLines(string(b), "nixbucket_requests_total"))
	}
	if log := m.logWith("id=" + id); !strings.Contains(log, "msg=request id="+id+" ") || !strings.Contains(grepLines(log, "id="+id), "operation=Metrics method=GET status=200") {
		t.Errorf("no access log line of the scrape on --metrics-listen (id %s):\n%s", id, tail(grepLines(log, "msg=request"), 3000))
	}
	if r := runCmd(t, nil, dir, "sh", "-c", promtool+" check metrics < metrics.txt"); r.Err != nil {
		t.Errorf("promtool check metrics (--metrics-listen): %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
}

// TestAccessLogJSON: with --log-format json every line on stderr is JSON
// (the first start's banner too), the access log has one line per request
// with the documented fields, and its id is the x-amz-request-id the
// client got.
func TestAccessLogJSON(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the log is nixbucket's")
	}
	s := startServerArgs(t, t.TempDir(), "http", "--log-format", "json")
	user := s.AccessKey + ":" + s.SecretKey
	type sent struct {
		method, bucket, key, principal, protocol, operation string
		status                                              int
	}
	ids := map[string]sent{}
	for _, c := range []sent{
		{"GET", "nix-cache", "nix-cache-info", "root", "nix", "CacheInfo", 200},
		{"HEAD", "nix-cache", "00000000000000000000000000000000.narinfo", "root", "nix", "Narinfo", 404},
		{"GET", "nix-cache", "00000000000000000000000000000000.narinfo", "anonymous", "nix", "Narinfo", 401},
		{"GET", "", "", "root", "s3", "ListBuckets", 200},
		{"GET", "", "-/health", "anonymous", "s3", "Health", 200},
		{"GET", "", "-/ready", "anonymous", "s3", "Ready", 200},
	} {
		u := user
		if c.principal == "anonymous" {
			u = ""
		}
		path := "/" + c.bucket + "/" + c.key
		if c.bucket == "" {
			path = "/" + c.key
		}
		st, id := curlPlain(t, s, c.method, s.Endpoint+path, u)
		if st != c.status || id == "" {
			t.Fatalf("%s %s: %d with request id %q, want %d with one", c.method, path, st, id, c.status)
		}
		if c.key == "-/health" || c.key == "-/ready" {
			c.key = ""
		}
		ids[id] = c
	}
	put := curlS3(t, s, http.MethodPut, s.Endpoint+"/nix-cache/hello.txt", "--data-binary", "hello")
	ids[put.Header.Get("X-Amz-Request-Id")] = sent{"PUT", "nix-cache", "hello.txt", "root", "s3", "PutObject", 200}
	s.Stop() // the access log is written out at shutdown

	seen := map[string]int{}
	for line := range strings.SplitSeq(s.stderr.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "=== ") {
			continue // the test harness's own lines
		}
		// Every other line, the first start's banner too, is JSON: a log
		// shipper reading the server's stderr takes it line by line.
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("a log line is not JSON: %v\n%s", err, line)
			continue
		}
		if v["msg"] != "request" {
			continue
		}
		for _, f := range []string{"time", "level", "id", "remote", "principal", "protocol", "operation", "method", "status", "bytes_in", "bytes_out", "duration"} {
			if _, ok := v[f]; !ok {
				t.Errorf("access log line without %q: %s", f, line)
			}
		}
		id, _ := v["id"].(string)
		seen[id]++
		want, ok := ids[id]
		if !ok {
			continue // the harness's readiness checks
		}
		str := func(k string) string { s, _ := v[k].(string); return s }
		if str("method") != want.method || str("bucket") != want.bucket || str("key") != want.key ||
			str("principal") != want.principal || str("protocol") != want.protocol || str("operation") != want.operation ||
			v["status"] != float64(want.status) || !strings.HasPrefix(str("remote"), "127.0.0.1:") {
			t.Errorf("access log line for %+v:\n%s", want, line)
		}
		if want.method == "PUT" && v["bytes_in"] != float64(5) {
			t.Errorf("PUT of 5 bytes logged bytes_in %v", v["bytes_in"])
		}
	}
	for id, want := range ids {
		if seen[id] != 1 {
			t.Errorf("request %+v (id %s) has %d access log lines, want 1", want, id, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("request id %q on %d lines", id, n)
		}
	}
}

// logWithCount waits until the server's stderr holds want n times (see
// logWith), and returns the stderr.
func (s *Server) logWithCount(want string, n int) string {
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(s.stderr.String(), want) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return s.stderr.String()
}

// logWith waits until the server's stderr holds want (the access log is
// written in the background, some milliseconds after the request), within
// a bound generous on a loaded machine, and returns the stderr.
func (s *Server) logWith(want string) string {
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	return s.stderr.String()
}
