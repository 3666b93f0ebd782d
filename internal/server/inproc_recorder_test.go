package server_test

import (
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// exchange is one request as the server saw it and the status it answered.
type exchange struct {
	Method, Path, Query string
	ContentSHA256       string
	Trailer             string
	ContentEncoding     string
	Checksums           []string // x-amz-checksum-* header names
	Status              int
}

// recorder notes every exchange with the handler.
type recorder struct {
	mu   sync.Mutex
	list []exchange
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := exchange{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			ContentSHA256:   r.Header.Get("X-Amz-Content-Sha256"),
			Trailer:         r.Header.Get("X-Amz-Trailer"),
			ContentEncoding: strings.Join(r.Header.Values("Content-Encoding"), ","),
		}
		if x.ContentSHA256 == "" {
			x.ContentSHA256 = r.URL.Query().Get("X-Amz-Content-Sha256")
		}
		for name := range r.Header {
			if strings.HasPrefix(strings.ToLower(name), "x-amz-checksum-") {
				x.Checksums = append(x.Checksums, strings.ToLower(name))
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		x.Status = sw.status
		if x.Status == 0 {
			x.Status = http.StatusOK
		}
		rec.mu.Lock()
		rec.list = append(rec.list, x)
		rec.mu.Unlock()
	})
}

// since returns the exchanges recorded after the first n.
func (rec *recorder) since(n int) []exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]exchange(nil), rec.list[n:]...)
}

// mark is the number of exchanges so far, for since.
func (rec *recorder) mark() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.list)
}

// modes returns the payload modes of the PUTs recorded after mark, with
// hex SHA-256 values shown as "<sha256>".
func (rec *recorder) modes(mark int) []string {
	var out []string
	for _, x := range rec.since(mark) {
		if x.Method != http.MethodPut {
			continue
		}
		m := x.ContentSHA256
		if len(m) == 64 {
			if _, err := hex.DecodeString(m); err == nil {
				m = "<sha256>"
			}
		}
		out = append(out, m)
	}
	return out
}

func (rec *recorder) checkNo5xx(t *testing.T) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, x := range rec.list {
		// 501 NotImplemented is a deliberate answer, which the tests
		// that provoke it check.
		if x.Status >= 500 && x.Status != http.StatusNotImplemented {
			t.Errorf("server answered %d to %s %s?%s (mode %q)", x.Status, x.Method, x.Path, x.Query, x.ContentSHA256)
		}
	}
}

// statusWriter notes the status a handler writes.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
