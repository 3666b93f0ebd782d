package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetricsBucketNamedOther: a bucket may be named "other", the label
// the metrics give to buckets past --metrics-max-buckets and to missing
// ones. Made with the aws CLI and asked for both ways, it once produced two
// series with the same labels, and every scrape of /-/metrics failed with
// a 500 ("was collected before with the same name and label values").
func TestMetricsBucketNamedOther(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	need(t, "aws")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the metrics are nixbucket's")
	}
	s := startServer(t)
	env := s.clientEnv()
	dir := t.TempDir()
	aws := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	aws("s3", "mb", "s3://other")
	file := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(file, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aws("s3", "cp", "--no-progress", file, "s3://other/f.txt")
	// Anonymous: refused, which counts under "other" too.
	if st, _ := curlPlain(t, s, http.MethodGet, s.Endpoint+"/other/f.txt", ""); st != http.StatusUnauthorized {
		t.Fatalf("anonymous GET of a private bucket's object: %d, want 401", st)
	}
	// A bucket that does not exist: "other" as well.
	curlS3(t, s, http.MethodGet, s.Endpoint+"/no-such-bucket/f.txt")

	out := filepath.Join(dir, "metrics.txt")
	r := runCmd(t, s.clientEnv(), dir, "curl", "-sS", "-o", out, "-w", "%{http_code}", s.Endpoint+"/-/metrics")
	if r.Err != nil || strings.TrimSpace(r.Stdout) != "200" {
		b, _ := os.ReadFile(out)
		t.Fatalf("GET /-/metrics: %v %s\n%.2000s", r.Err, r.Stdout, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := `nixbucket_requests_total{bucket="other",class="2xx",operation="PutObject",protocol="s3"} 1`; !strings.Contains(string(b), want) {
		t.Errorf("metrics lack %q:\n%s", want, tail(grepLines(string(b), `bucket="other"`), 4000))
	}
}
