package server

import (
	"io"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/traffic"
)

// countTraffic records every S3 and binary-cache request in the traffic
// counters the console charts (internal/traffic): its bucket, the body
// bytes read and the bytes answered. Requests to /-/ (console, APIs) are
// not bucket traffic and are not counted. A request without a body (every
// narinfo and NAR GET) costs a wrapper of the writer and a few atomic
// adds; the writer keeps ReadFrom, so NARs still go out by sendfile.
func countTraffic(c *traffic.Counters, domain string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/-/") {
			h.ServeHTTP(w, r)
			return
		}
		lw := &loggedResponse{w: w}
		var body *countingBody
		if r.Body != nil && r.Body != http.NoBody {
			// A shallow copy: net/http answers "Expect: 100-continue"
			// by its own body reader, which r must keep (see
			// s3api.boundRequest).
			body = &countingBody{ReadCloser: r.Body}
			r2 := *r
			r2.Body = body
			r = &r2
		}
		h.ServeHTTP(lw, r)
		var in int64
		if body != nil {
			in = body.n
		}
		c.Record(requestBucket(r, domain), in, lw.bytes)
	})
}

// requestBucket is the bucket a request addresses: virtual-host
// (BUCKET.domain) or the path's first segment; "" for none (ListBuckets).
// Names that are no valid bucket count as none, so that they fall into
// traffic.Other rather than take one of the named places.
func requestBucket(r *http.Request, domain string) string {
	if domain != "" {
		host := r.Host
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		if b, ok := strings.CutSuffix(host, "."+domain); ok && b != "" {
			return validOrNone(b)
		}
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	return validOrNone(p)
}

func validOrNone(b string) string {
	if len(b) < 3 || len(b) > 63 {
		return ""
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return ""
		}
	}
	return b
}

// countingBody counts the bytes a handler reads of a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
