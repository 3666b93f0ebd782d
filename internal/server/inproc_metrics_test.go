package server_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nixbucket/nixbucket/internal/server"
)

// scrape reads /-/metrics (from loopback, so without credentials) into a
// map from each sample's name and labels, as printed, to its value.
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	r := e.request(http.MethodGet, e.ts.URL+server.MetricsPath, nil)
	st, h, body := e.do(r)
	if st != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", server.MetricsPath, st, body)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		e.t.Errorf("metrics Content-Type %q, want the text format", ct)
	}
	return parseMetrics(e.t, body)
}

func parseMetrics(t *testing.T, body []byte) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// plainGet sends a binary-cache GET (no S3 client) with Basic credentials
// and returns the status and body.
func (e *env) plainGet(path, id, secret string) (int, []byte) {
	e.t.Helper()
	r := e.request(http.MethodGet, e.ts.URL+path, nil)
	r.Header.Set("User-Agent", "curl/8.5.0 Nix/2.8.0")
	if id != "" {
		r.SetBasicAuth(id, secret)
	}
	st, _, body := e.do(r)
	return st, body
}

// TestMetricsCount makes S3 and Nix requests and checks that the counters
// moved by exactly what they did: requests by protocol, operation, bucket
// (the third bucket folded into other) and class, bytes, narinfo hits and
// misses, uploads open, authentication failures, and the per-bucket
// gauges once refreshed.
func TestMetricsCount(t *testing.T) {
	e := newEnv(t, withMetricsMaxBuckets(2))
	b1, b2, b3 := e.bucket("m"), e.bucket("m"), e.bucket("m")
	before := e.scrape()

	store := e.pushPath(b1, 1) // PutObject: the NAR, then the narinfo
	hash := strings.TrimPrefix(store, "/nix/store/")[:32]
	e.put(b2, "k", []byte("0123456789"))
	e.put(b3, "k", []byte("abc"))
	e.get(b2, "k")
	e.get(b3, "k")
	if _, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")}); code(err) != "NoSuchBucket" {
		t.Fatalf("GET of a missing bucket: %v", err)
	}
	up, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &b1, Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}

	// The binary-cache reads (Basic credentials, as from a netrc).
	var nixSent int
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/" + b1 + "/nix-cache-info", 200},
		{"/" + b1 + "/" + hash + ".narinfo", 200},
		{"/" + b1 + "/" + hash + ".narinfo", 200},
		{"/" + b1 + "/00000000000000000000000000000000.narinfo", 404},
		{"/" + b1 + "/nar/0000000000000000000000000000000000000000000000000000.nar", 404},
	} {
		st, body := e.plainGet(c.path, e.id, e.secret)
		if st != c.status {
			t.Fatalf("GET %s: %d %s, want %d", c.path, st, body, c.status)
		}
		nixSent += len(body)
	}
	// A wrong secret, signed and as Basic.
	bad := e.newS3(e.id, "wrong-secret-wrong-secret-wrong-secret00")
	if _, err := bad.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b3, Key: aws.String("k")}); code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("GET with a wrong secret: %v", err)
	}
	// An access key id never issued: the client is told what a wrong
	// secret gets, the metrics tell the two apart.
	unknown := e.newS3("NBNEVERISSUEDNEVERIS", "wrong-secret-wrong-secret-wrong-secret00")
	if _, err := unknown.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b3, Key: aws.String("k")}); code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("GET with an unknown key: %v", err)
	}
	st, body := e.plainGet("/"+b1+"/nix-cache-info", e.id, "wrong")
	if st != http.StatusForbidden {
		t.Fatalf("Basic with a wrong secret: %d", st)
	}
	nixSent += len(body)

	after := e.scrape()
	delta := func(key string) float64 { return after[key] - before[key] }
	reqs := func(bucket, class, op, proto string) string {
		return `nixbucket_requests_total{bucket="` + bucket + `",class="` + class + `",operation="` + op + `",protocol="` + proto + `"}`
	}
	for key, want := range map[string]float64{
		reqs(b1, "2xx", "PutObject", "s3"):                                             2,
		reqs(b2, "2xx", "PutObject", "s3"):                                             1,
		reqs(b2, "2xx", "GetObject", "s3"):                                             1,
		reqs("other", "2xx", "PutObject", "s3"):                                        1, // b3: past the 2 labels
		reqs("other", "2xx", "GetObject", "s3"):                                        1,
		reqs("other", "4xx", "GetObject", "s3"):                                        3, // no-such-bucket, the wrong signature, the unknown key
		reqs(b1, "2xx", "CreateMultipartUpload", "s3"):                                 1,
		reqs(b1, "2xx", "CacheInfo", "nix"):                                            1,
		reqs(b1, "2xx", "Narinfo", "nix"):                                              2,
		reqs(b1, "4xx", "Narinfo", "nix"):                                              1,
		reqs(b1, "4xx", "Nar", "nix"):                                                  1,
		reqs(b1, "4xx", "CacheInfo", "nix"):                                            1, // the wrong Basic secret
		`nixbucket_narinfo_lookups_total{bucket="` + b1 + `",result="hit"}`:            2,
		`nixbucket_narinfo_lookups_total{bucket="` + b1 + `",result="miss"}`:           1,
		`nixbucket_sent_bytes_total{bucket="` + b2 + `",protocol="s3"}`:                10,
		`nixbucket_sent_bytes_total{bucket="` + b1 + `",protocol="nix"}`:               float64(nixSent),
		`nixbucket_received_bytes_total{bucket="other",protocol="s3"}`:                 3,
		`nixbucket_auth_failures_total{reason="signature_mismatch"}`:                   1,
		`nixbucket_auth_failures_total{reason="key_rejected"}`:                         1,
		`nixbucket_auth_failures_total{reason="unknown_key"}`:                          1,
		`nixbucket_multipart_uploads_open`:                                             1,
		`nixbucket_request_duration_seconds_count{operation="Narinfo",protocol="nix"}`: 3,
	} {
		if got := delta(key); got != want {
			t.Errorf("%s moved by %v, want %v", key, got, want)
		}
	}
	for key := range after {
		if strings.Contains(key, `bucket="`+b3+`"`) || strings.Contains(key, `bucket="no-such-bucket"`) {
			t.Errorf("a bucket past the limit has a label of its own: %s", key)
		}
	}
	if _, err := e.s3.AbortMultipartUpload(ctx(t), &s3.AbortMultipartUploadInput{Bucket: &b1, Key: aws.String("big"), UploadId: up.UploadId}); err != nil {
		t.Fatal(err)
	}
	if got := e.scrape()["nixbucket_multipart_uploads_open"]; got != 0 {
		t.Errorf("uploads open after the abort: %v, want 0", got)
	}

	// The gauges, once refreshed: b1 holds the NAR and the narinfo.
	if err := e.srv.RefreshUsage(ctx(t)); err != nil {
		t.Fatal(err)
	}
	g := e.scrape()
	for key, want := range map[string]float64{
		`nixbucket_bucket_objects{bucket="` + b1 + `"}`: 2,
		`nixbucket_bucket_paths{bucket="` + b1 + `"}`:   1,
		`nixbucket_bucket_objects{bucket="` + b2 + `"}`: 1,
		`nixbucket_bucket_bytes{bucket="` + b2 + `"}`:   10,
		`nixbucket_bucket_objects{bucket="other"}`:      1,
		`nixbucket_bucket_bytes{bucket="other"}`:        3,
	} {
		if got, ok := g[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "nixbucket_gc_runs_total",
		"nixbucket_lifecycle_runs_total", "nixbucket_access_log_dropped_total"} {
		if _, ok := g[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	if _, err := e.srv.CollectGarbage(ctx(t), b1, false); err != nil {
		t.Fatal(err)
	}
	if got := e.scrape()["nixbucket_gc_runs_total"] - g["nixbucket_gc_runs_total"]; got != 1 {
		t.Errorf("gc runs moved by %v, want 1", got)
	}
}

// TestMetricsWhoMayScrape: from another machine, an anonymous caller is
// refused (401), a user without nixbucket:GetMetrics too (403); a user
// allowed it scrapes, with Basic credentials or a signature.
func TestMetricsWhoMayScrape(t *testing.T) {
	e := newEnv(t)
	scraper, err := e.srv.Access().CreateUser(ctx(t), "prometheus",
		[]byte(`{"Statement":{"Effect":"Allow","Action":"nixbucket:GetMetrics","Resource":"`+server.MetricsResource+`"}}`))
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.srv.Access().CreateUser(ctx(t), "reader",
		[]byte(`{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	remote := func(auth func(*http.Request)) (int, string) {
		r := httptest.NewRequest(http.MethodGet, server.MetricsPath, nil)
		r.RemoteAddr = "192.0.2.7:40000"
		auth(r)
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	if st, body := remote(func(*http.Request) {}); st != http.StatusUnauthorized || strings.Contains(body, "nixbucket_") {
		t.Errorf("anonymous remote scrape: %d %.200s, want 401", st, body)
	}
	if st, body := remote(func(r *http.Request) { r.SetBasicAuth(other.ID, other.Secret) }); st != http.StatusForbidden || strings.Contains(body, "nixbucket_") {
		t.Errorf("remote scrape without nixbucket:GetMetrics: %d %.200s, want 403", st, body)
	}
	if st, body := remote(func(r *http.Request) { r.SetBasicAuth(scraper.ID, scraper.Secret) }); st != http.StatusOK || !strings.Contains(body, "nixbucket_requests_total") {
		t.Errorf("remote scrape with nixbucket:GetMetrics (Basic): %d %.200s, want 200 with metrics", st, body)
	}
	if st, body := remote(func(r *http.Request) {
		signAs(t, r, scraper.ID, scraper.Secret, "UNSIGNED-PAYLOAD", time.Now())
	}); st != http.StatusOK || !strings.Contains(body, "nixbucket_requests_total") {
		t.Errorf("remote scrape with nixbucket:GetMetrics (SigV4): %d %.200s, want 200 with metrics", st, body)
	}
	// From loopback no credentials are needed.
	if st, _ := e.plainGet(server.MetricsPath, "", ""); st != http.StatusOK {
		t.Errorf("loopback scrape: %d", st)
	}
}

// stuckWriter blocks every Write until released.
type stuckWriter struct{ release chan struct{} }

func (w stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestAccessLogStuckOutput: with the access log's output blocked for
// good, requests are still answered, and the lines that find the queue
// full are dropped and counted in the metrics.
func TestAccessLogStuckOutput(t *testing.T) {
	out := stuckWriter{release: make(chan struct{})}
	srv, err := server.Open(ctx(t), server.Options{Data: t.TempDir(), AccessLog: out,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(out.release) // before Close, which writes out the queue
		srv.Close()
	})
	h := srv.Handler()
	// Long keys make long lines: the 4 MiB queue fills in a few
	// thousand requests.
	path := "/" + server.DefaultCache + "/" + strings.Repeat("k", 2000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5000 {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
			if w.Code != http.StatusUnauthorized {
				t.Errorf("GET: %d, want 401", w.Code)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // generous: a request stuck behind the log never returns
		t.Fatal("requests blocked behind a stuck access log")
	}
	w := httptest.NewRecorder()
	scrape := httptest.NewRequest(http.MethodGet, server.MetricsPath, nil)
	scrape.RemoteAddr = "127.0.0.1:40000"
	h.ServeHTTP(w, scrape)
	m := parseMetrics(t, w.Body.Bytes())
	if d := m["nixbucket_access_log_dropped_total"]; d < 1000 || d > 5000 {
		t.Errorf("dropped %v lines of 5000 (about 2 KiB each, 4 MiB queued), want most", d)
	}
}

// TestMetricsDeletedBucketsLeave: buckets created and deleted leave
// /-/metrics after the refreshes that no longer list them, and do not
// keep the later buckets from labels of their own.
func TestMetricsDeletedBucketsLeave(t *testing.T) {
	e := newEnv(t, withMetricsMaxBuckets(2))
	for range 4 {
		b := e.bucket("churn")
		if _, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s3.DeleteBucket(ctx(t), &s3.DeleteBucketInput{Bucket: &b}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := e.srv.RefreshUsage(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for key := range e.scrape() {
		if strings.Contains(key, `bucket="churn`) {
			t.Errorf("a deleted bucket is still reported: %s", key)
		}
	}
	last := e.bucket("last")
	if _, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &last, Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	key := `nixbucket_requests_total{bucket="` + last + `",class="2xx",operation="PutObject",protocol="s3"}`
	if got := e.scrape()[key]; got != 1 {
		t.Errorf("%s = %v, want 1: the labels of deleted buckets are not free", key, got)
	}
}

// TestMetricsRefusedScraperLogged: a scraper whose credentials check out
// but whose policy lacks nixbucket:GetMetrics is logged as who it is,
// not as anonymous: the operator sees which key is misconfigured.
func TestMetricsRefusedScraperLogged(t *testing.T) {
	access := &logBuffer{}
	srv, err := server.Open(ctx(t), server.Options{Data: t.TempDir(), AccessLog: access,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := srv.Access().CreateUser(ctx(t), "reader",
		[]byte(`{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, server.MetricsPath, nil)
	r.RemoteAddr = "192.0.2.7:40000"
	r.SetBasicAuth(reader.ID, reader.Secret)
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Fatalf("remote scrape without nixbucket:GetMetrics: %d, want 403", w.Code)
	}
	srv.Close() // writes the access log out
	if got := access.lines("operation=Metrics", "status=403", "principal=reader"); len(got) != 1 {
		t.Errorf("no line of the refused scrape with principal=reader; the access log:\n%s", access)
	}
}

// TestMetricsLogDropped: the drops of the output every log line goes
// through (serve's LogQueue) are the metric, with the access log off too.
func TestMetricsLogDropped(t *testing.T) {
	srv, err := server.Open(ctx(t), server.Options{Data: t.TempDir(), LogDropped: func() uint64 { return 7 },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	r := httptest.NewRequest(http.MethodGet, server.MetricsPath, nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), "\nnixbucket_access_log_dropped_total 7\n") {
		t.Errorf("scrape: %d, no nixbucket_access_log_dropped_total 7 in:\n%.2000s", w.Code, w.Body.String())
	}
}

// TestMetricsUploadsOpenCompleteAgain: a CompleteMultipartUpload sent
// again for an upload already completed (an SDK retrying after a lost
// answer) is answered 200 as S3 does, but closes no other upload: the
// count of uploads open stays at the one still open.
func TestMetricsUploadsOpenCompleteAgain(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("again")
	if _, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("open")}); err != nil {
		t.Fatal(err)
	}
	up, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("done")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.s3.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &b, Key: aws.String("done"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	complete := &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("done"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}}
	for i := range 2 {
		if _, err := e.s3.CompleteMultipartUpload(ctx(t), complete); err != nil {
			t.Fatalf("CompleteMultipartUpload #%d: %v", i+1, err)
		}
	}
	if got := e.scrape()["nixbucket_multipart_uploads_open"]; got != 1 {
		t.Errorf("uploads open after one of two completed (twice): %v, want 1", got)
	}
}
