package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestMetricsBucketNamedOther: a bucket may be named "other", the label
// the metrics give to buckets past --metrics-max-buckets and to missing
// ones. Made with the aws CLI and asked for both ways, it once produced two
// series with the same labels, and every scrape of /-/metrics failed with
// a 500 ("was collected before with the same name and label values").
func TestMetricsBucketNamedOther(t *testing.T) {
	e := seedStart(t)
	e.mustAWS("nixbucket", "s3", "mb", "s3://other")
	e.put("other", "f.txt", "hello\n")
	// Anonymous: refused, which counts under "other" too.
	seedWantCurl(t, "anonymous GET of a private bucket's object", e.curl(http.MethodGet, e.s.Endpoint+"/other/f.txt"), http.StatusUnauthorized, "")
	// A bucket that does not exist: "other" as well.
	curlS3(t, e.s, http.MethodGet, e.s.Endpoint+"/no-such-bucket/f.txt")

	r := e.curl(http.MethodGet, e.s.Endpoint+"/-/metrics")
	seedWantCurl(t, "GET /-/metrics", r, http.StatusOK, "")
	if want := `nixbucket_requests_total{bucket="other",class="2xx",operation="PutObject",protocol="s3"} 1`; !strings.Contains(r.Body, want) {
		t.Errorf("metrics lack %q:\n%s", want, tail(grepLines(r.Body, `bucket="other"`), 4000))
	}
}
