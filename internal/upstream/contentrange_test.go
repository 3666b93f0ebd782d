package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

// lyingUpstream is an HTTP binary cache and an S3 endpoint in one: it
// serves file under any key, and answers a Range request with 206, the
// bytes of the range it was asked for, and the Content-Range that
// contentRange makes of that range ("" for none).
func lyingUpstream(t *testing.T, file []byte, contentRange func(first, last int64) string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var first, last int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last); err != nil {
			last = int64(len(file)) - 1 // bytes=FIRST-
		}
		last = min(last, int64(len(file))-1)
		if cr := contentRange(first, last); cr != "" {
			w.Header().Set("Content-Range", cr)
		}
		w.Header().Set("Content-Length", fmt.Sprint(last-first+1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(file[first : last+1])
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRangeAnswerChecked: an upstream's 206 is passed on only when its
// Content-Range is the range asked for (its end cut at the file's end at
// most); a wrong first or last byte, a total the range does not fit,
// garbage or no Content-Range at all make the answer an upstream failure,
// over HTTP and S3 alike.
func TestRangeAnswerChecked(t *testing.T) {
	file := make([]byte, 5000)
	for i := range file {
		file[i] = byte(i * 7)
	}
	size := int64(len(file))
	honest := func(first, last int64) string { return fmt.Sprintf("bytes %d-%d/%d", first, last, size) }
	tests := []struct {
		name string
		rng  Range
		cr   func(first, last int64) string
		ok   bool
		size int64 // when ok
	}{
		{"honest", Range{100, 100}, honest, true, size},
		{"honest, to the end", Range{4000, -1}, honest, true, size},
		{"honest, cut at the file's end", Range{4900, 500}, honest, true, size},
		{"unknown total", Range{100, 100}, func(f, l int64) string { return fmt.Sprintf("bytes %d-%d/*", f, l) }, true, -1},
		{"no Content-Range", Range{100, 100}, func(int64, int64) string { return "" }, false, 0},
		{"another first byte", Range{100, 100}, func(f, l int64) string { return honest(f+1, l) }, false, 0},
		{"another first byte, from 0", Range{100, 100}, func(f, l int64) string { return honest(0, l-f) }, false, 0},
		{"another last byte", Range{100, 100}, func(f, l int64) string { return honest(f, l+1) }, false, 0},
		{"short, not at the file's end", Range{100, 100}, func(f, l int64) string { return honest(f, l-1) }, false, 0},
		{"short, total unknown", Range{100, 100}, func(f, l int64) string { return fmt.Sprintf("bytes %d-%d/*", f, l-1) }, false, 0},
		{"to the end, short", Range{4000, -1}, func(f, l int64) string { return honest(f, l-10) }, false, 0},
		{"last byte past the total", Range{100, 100}, func(f, l int64) string { return fmt.Sprintf("bytes %d-%d/%d", f, l, l) }, false, 0},
		{"last before first", Range{100, 100}, func(f, l int64) string { return honest(l, f) }, false, 0},
		{"not bytes", Range{100, 100}, func(f, l int64) string { return fmt.Sprintf("items %d-%d/%d", f, l, size) }, false, 0},
		{"a sign", Range{100, 100}, func(f, l int64) string { return fmt.Sprintf("bytes +%d-%d/%d", f, l, size) }, false, 0},
		{"no total", Range{100, 100}, func(f, l int64) string { return fmt.Sprintf("bytes %d-%d", f, l) }, false, 0},
		{"unsatisfied form", Range{100, 100}, func(int64, int64) string { return fmt.Sprintf("bytes */%d", size) }, false, 0},
	}
	for _, tt := range tests {
		up := lyingUpstream(t, file, tt.cr)
		s3src, err := NewSource(t.Context(), "s3://bucket/cache?endpoint="+up.URL+"&region=us-east-1", SourceOptions{S3: &S3Options{
			Credentials: credentials.NewStaticCredentialsProvider("AKLIAR", "liar-secret", ""),
		}})
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range []Source{httpSourceFor(t, up.URL, SourceOptions{}), s3src} {
			what := fmt.Sprintf("%s, %s over %s", tt.name, tt.rng, strings.SplitN(src.Name(), ":", 2)[0])
			body, gotSize, err := src.Open(t.Context(), "nar/x.nar", &tt.rng)
			if !tt.ok {
				if err == nil {
					body.Close()
					t.Errorf("%s: the answer was taken", what)
				} else if !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", what, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			got, err := io.ReadAll(body)
			body.Close()
			end := size
			if tt.rng.Length >= 0 {
				end = min(end, tt.rng.Offset+tt.rng.Length)
			}
			if err != nil || !bytes.Equal(got, file[tt.rng.Offset:end]) || gotSize != tt.size {
				t.Errorf("%s: %d bytes (%v), size %d, want bytes %d-%d and size %d", what, len(got), err, gotSize, tt.rng.Offset, end-1, tt.size)
			}
		}
	}
}

// FuzzContentRange: checkContentRange never panics, and accepts only a
// Content-Range whose span starts at the asked offset, ends at the asked
// end or earlier at the stated file end, and fits in the stated total.
func FuzzContentRange(f *testing.F) {
	f.Add("bytes 100-199/5000", int64(100), int64(100))
	f.Add("bytes 100-149/150", int64(100), int64(100))
	f.Add("bytes 100-4999/5000", int64(100), int64(-1))
	f.Add("bytes 100-199/*", int64(100), int64(100))
	f.Add("bytes 0-0/1", int64(0), int64(1))
	f.Add("bytes 9223372036854775806-9223372036854775806/9223372036854775807", int64(9223372036854775806), int64(1))
	f.Fuzz(func(t *testing.T, cr string, off, length int64) {
		if off < 0 || length < -1 || length == 0 || length > 0 && off > (1<<62) {
			return
		}
		total, err := checkContentRange(cr, Range{off, length})
		if err != nil {
			return
		}
		var first, last int64
		if _, err := fmt.Sscanf(cr, "bytes %d-%d/", &first, &last); err != nil {
			t.Fatalf("%q for %d+%d: taken, but does not scan: %v", cr, off, length, err)
		}
		if first != off || last < first || total >= 0 && last >= total || length > 0 && last > off+length-1 {
			t.Fatalf("%q for %d+%d: taken, total %d", cr, off, length, total)
		}
		if short := length < 0 || last < off+length-1; short && total >= 0 && last != total-1 {
			t.Fatalf("%q for %d+%d: taken short of the asked end, total %d", cr, off, length, total)
		}
	})
}
