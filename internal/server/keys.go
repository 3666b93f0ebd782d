package server

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/s3api"
)

// serveKeys answers GET /-/keys/BUCKET with the bucket's public signing
// keys, one per line in trusted-public-keys form, for `nixbucket use`.
//
// Who may learn what: public keys are public by nature, but whether a
// bucket exists is not, for a private bucket. So the endpoint reveals
// exactly what GET BUCKET/nix-cache-info reveals to the same caller, and
// no more: it first runs that request through the same handler (the
// caller's netrc Basic or Bearer credentials included, so private caches
// work with credentials), and unless it succeeds answers with its status,
// headers and body — an anonymous caller gets the same 401 for a private
// bucket as for one that does not exist. Only a caller who may read the
// bucket's nix-cache-info sees its keys, or a 404 when it does not exist.
// A bucket with no signing key answers 200 with an empty body.
func (s *Server) serveKeys(api http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		bucket := r.PathValue("bucket")
		probe := r.Clone(r.Context())
		probe.Method = http.MethodGet
		probe.URL = &url.URL{Path: "/" + bucket + "/nix-cache-info"}
		probe.RequestURI = probe.URL.RequestURI()
		probe.Body, probe.ContentLength = http.NoBody, 0
		for k := range probe.Header {
			if k == "Range" || strings.HasPrefix(k, "If-") {
				delete(probe.Header, k) // the probe asks for the whole answer
			}
		}
		if s.opts.Domain != "" {
			probe.Host = s.opts.Domain // path-style, whatever Host the caller used
		}
		rec := &probeRecorder{header: http.Header{}, status: http.StatusOK}
		api.ServeHTTP(rec, probe)
		if rec.header.Get("X-Nixbucket-Error") == s3api.CodeNotACache {
			// Nix's answer for a missing bucket; this endpoint's stays 404.
			rec.status, rec.header = http.StatusNotFound, http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Amz-Request-Id": rec.header["X-Amz-Request-Id"]}
			rec.body.Reset()
			rec.body.WriteString("404 NoSuchBucket: The specified bucket does not exist\n")
		}
		if rec.status != http.StatusOK {
			for _, k := range []string{"Content-Type", "Www-Authenticate", "X-Amz-Request-Id"} {
				if v := rec.header.Get(k); v != "" {
					w.Header().Set(k, v)
				}
			}
			w.Header().Set("Content-Length", strconv.Itoa(rec.body.Len()))
			w.WriteHeader(rec.status)
			if r.Method != http.MethodHead {
				w.Write(rec.body.Bytes())
			}
			return
		}
		keys, err := binarycache.PublicKeys(r.Context(), s.meta, bucket)
		if err != nil {
			s.log.Error("public keys", "bucket", bucket, "err", err)
			http.Error(w, "internal error reading the bucket's keys", http.StatusInternalServerError)
			return
		}
		body := ""
		if len(keys) > 0 {
			body = strings.Join(keys, "\n") + "\n"
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write([]byte(body))
		}
	}
}

// probeRecorder keeps the status, headers and first bytes of an answer
// serveKeys asked the handler for.
type probeRecorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (p *probeRecorder) Header() http.Header { return p.header }

func (p *probeRecorder) WriteHeader(code int) {
	if !p.wrote && code >= 200 {
		p.status, p.wrote = code, true
	}
}

func (p *probeRecorder) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	if room := 64<<10 - p.body.Len(); room > 0 {
		p.body.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}
