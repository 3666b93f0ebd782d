package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// The backend-stall tests: a node whose metadata store (PostgreSQL) or
// blob store (S3) stops answering without closing its connections, as a
// paused (SIGSTOP) or partitioned one does, answers the requests that
// need it with 503 naming the store within serve --backend-timeout of
// no progress, instead of holding them as long as the pause; logs and
// counts them as 5xx; and serves as before once the store is back, with
// every acknowledged write readable and every write that got a 503 either
// all there or not at all. The stores are reached through testenv's Proxy,
// whose Stall holds every byte either way.

// TestBackendStallPostgres stalls the node's PostgreSQL.
func TestBackendStallPostgres(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	s := startServerDir(t, t.TempDir(), "--meta", u.String(), "--backend-timeout", "2s")
	stallCase(t, s, proxy, "the metadata store", 100)
}

// TestBackendStallS3Blobs stalls the node's S3 blob store (without a
// blob cache, so that reads need the store too).
func TestBackendStallS3Blobs(t *testing.T) {
	t.Parallel()
	st := testenv.S3Store(t)
	storeBucket := st.NewBucket(t)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(st.Endpoint, "http://"))
	env := append(st.Env(), "AWS_CONFIG_FILE=/nonexistent", "AWS_PROFILE=")
	s := startServerEnv(t, t.TempDir(), "http", env,
		"--meta", testenv.Postgres(t),
		"--blobs", "s3://"+storeBucket+"/nb?endpoint=http://"+proxy.Addr(),
		"--blob-cache-size", "0", "--backend-timeout", "2s")
	// Past InlineMax, so that the bytes are a blob in the store.
	stallCase(t, s, proxy, "the blob store", 1<<20)
}

// stallCase writes objects of size bytes through s, stalls the proxy to
// its store (what: how the 503 names it), checks that writes and reads
// over S3 (aws CLI) and the binary-cache protocol (curl with the netrc
// Nix uses) are answered 503 naming what, unstalls, and checks the
// outcome.
func stallCase(t *testing.T, s *Server, proxy *testenv.Proxy, what string, size int) {
	need(t, "aws")
	need(t, "curl")
	dir := t.TempDir()
	// One attempt: the CLI would retry a 503 four more times.
	env := s.clientEnv("AWS_MAX_ATTEMPTS=1")
	aws := func(args ...string) cmdResult {
		t.Helper()
		return runCmd(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	const bucket = "stall"
	file := func(name string, seed uint64) string {
		p := filepath.Join(dir, name)
		writeRandomFile(t, p, int64(size), seed)
		return p
	}
	put := func(key, path string) cmdResult {
		t.Helper()
		return aws("s3api", "put-object", "--bucket", bucket, "--key", key, "--body", path)
	}
	if r := aws("s3", "mb", "s3://"+bucket); r.Err != nil {
		t.Fatalf("aws s3 mb: %v\n%s", r.Err, r.Stderr)
	}
	acked := map[string]string{} // key → file of its acknowledged content
	for i, key := range []string{"before/a", "log/before.drv"} {
		p := file(fmt.Sprintf("before%d", i), uint64(i+1))
		if r := put(key, p); r.Err != nil {
			t.Fatalf("put %s: %v\n%s", key, r.Err, r.Stderr)
		}
		acked[key] = p
	}

	proxy.Stall(true)
	refused := map[string]string{} // key → file of a write answered 503
	// Over S3: a write, and reads that need the store.
	p := file("stalled-s3", 10)
	r := aws("s3api", "put-object", "--bucket", bucket, "--key", "stalled/s3", "--body", p)
	wantUnavailable(t, "aws s3api put-object", r, what)
	refused["stalled/s3"] = p
	if what == "the blob store" {
		r = aws("s3api", "get-object", "--bucket", bucket, "--key", "log/before.drv", filepath.Join(dir, "got"))
		wantUnavailable(t, "aws s3api get-object", r, what)
	} else {
		r = aws("s3api", "list-objects-v2", "--bucket", bucket)
		wantUnavailable(t, "aws s3api list-objects-v2", r, what)
	}
	// Over the binary-cache protocol, as Nix uploads and substitutes.
	p = file("stalled-nix", 11)
	st, body := curlNix(t, s, http.MethodPut, bucket, "log/stalled.drv", p)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, what) {
		t.Errorf("binary-cache PUT with %s stalled: %d %s, want 503 naming it", what, st, body)
	}
	refused["log/stalled.drv"] = p
	st, body = curlNix(t, s, http.MethodGet, bucket, "log/before.drv", "")
	// A node may answer a read from memory (its memo of small objects);
	// whatever needs the store says it is unavailable.
	if st != http.StatusServiceUnavailable && (st != http.StatusOK || what == "the blob store") {
		t.Errorf("binary-cache GET with %s stalled: %d %s, want 503 naming it", what, st, body)
	}
	if st == http.StatusServiceUnavailable && !strings.Contains(body, what) {
		t.Errorf("binary-cache GET with %s stalled: %s, want 503 naming it", what, body)
	}

	proxy.Stall(false)
	// Served again, without a restart.
	p = file("after", 12)
	if r := put("after/a", p); r.Err != nil {
		t.Fatalf("put once %s answers again: %v\n%s", what, r.Err, r.Stderr)
	}
	acked["after/a"] = p
	p = file("after-nix", 13)
	if st, body := curlNix(t, s, http.MethodPut, bucket, "log/after.drv", p); st != http.StatusOK {
		t.Fatalf("binary-cache PUT once %s answers again: %d %s", what, st, body)
	}
	acked["log/after.drv"] = p
	for key, want := range acked {
		got := filepath.Join(dir, "got")
		if r := aws("s3api", "get-object", "--bucket", bucket, "--key", key, got); r.Err != nil {
			t.Errorf("acknowledged %s unreadable after the stall: %v\n%s", key, r.Err, r.Stderr)
			continue
		}
		sameFile(t, want, got)
	}
	// A write answered 503 is all there or not there (its commit may have
	// reached the store before the stall, or after it).
	for key, sent := range refused {
		st, body := curlNix(t, s, http.MethodGet, bucket, key, "")
		want, err := os.ReadFile(sent)
		if err != nil {
			t.Fatal(err)
		}
		if st != http.StatusNotFound && (st != http.StatusOK || !bytes.Equal([]byte(body), want)) {
			t.Errorf("%s, answered 503 during the stall, then: %d (%d bytes), want 404 or all %d bytes", key, st, len(body), len(want))
		}
	}
	if n := count5xx(t, s); n < 3 {
		t.Errorf("the metrics count %v 5xx answers, want the %d 503s at least", n, 3)
	}
	if log := s.stderr.String(); !strings.Contains(log, "ServiceUnavailable") {
		t.Errorf("the 503s are not in the server's log:\n%s", tail(log, 4000))
	}
}

// wantUnavailable checks that an aws CLI run failed with 503 naming what.
func wantUnavailable(t *testing.T, name string, r cmdResult, what string) {
	t.Helper()
	if r.Err == nil || !strings.Contains(r.Stderr, "ServiceUnavailable") || !strings.Contains(r.Stderr, what) {
		t.Errorf("%s with %s stalled: %v\n%s, want ServiceUnavailable naming it", name, what, r.Err, r.Stderr)
	}
}

// curlNix sends a request over the binary-cache protocol, with the node's
// netrc as Nix does (HTTP Basic), from file (PUT) or for the body (GET);
// it returns the status and the body. curl's --max-time is the test's
// deadline, not an assertion about speed.
func curlNix(t *testing.T, s *Server, method, bucket, key, file string) (int, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "body")
	args := []string{"-sS", "--max-time", "300", "--netrc-file", nixNetrc(s), "-o", out, "-w", "%{http_code}"}
	if method == http.MethodPut {
		args = append(args, "-T", file, "-H", "Content-Type: text/plain; charset=utf-8")
	}
	r := runCmd(t, s.clientEnv(), "", "curl", append(args, s.Endpoint+"/"+bucket+"/"+key)...)
	if r.Err != nil {
		t.Fatalf("curl %s %s: %v\n%s", method, key, r.Err, r.Stderr)
	}
	st, err := strconv.Atoi(strings.TrimSpace(r.Stdout))
	if err != nil {
		t.Fatalf("curl %s %s: status %q", method, key, r.Stdout)
	}
	b, _ := os.ReadFile(out)
	return st, string(b)
}

// count5xx sums the node's nixbucket_requests_total of class 5xx.
func count5xx(t *testing.T, s *Server) float64 {
	t.Helper()
	var n float64
	for line := range strings.SplitSeq(metricsText(t, s), "\n") {
		if !strings.HasPrefix(line, "nixbucket_requests_total{") || !strings.Contains(line, `class="5xx"`) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		n += v
	}
	return n
}
