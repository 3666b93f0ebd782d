package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/server"
)

// FuzzHandler sends arbitrary unsigned requests — methods, paths, query
// strings, a few headers and bodies — to the real handler: it must never
// panic or answer with a server error (501 NotImplemented aside).
func FuzzHandler(f *testing.F) {
	for _, s := range []struct{ method, target, hdr, body string }{
		{"GET", "/nix-cache/nix-cache-info", "", ""},
		{"GET", "/nix-cache?list-type=2&prefix=a&delimiter=/&max-keys=2", "", ""},
		{"PUT", "/nix-cache/0123456789abcdfghijklmnpqrsvwxyz.narinfo", "Content-Encoding: xz", "StorePath: x"},
		{"POST", "/nix-cache?delete", "Content-Type: application/xml", "<Delete><Object><Key>a</Key></Object></Delete>"},
		{"GET", "/nix-cache/k?partNumber=0", "Range: bytes=-0", ""},
		{"HEAD", "/nix-cache/a//b/../c", "If-Match: *", ""},
		{"GET", "/?location&uploads&x-id=1", "Authorization: Basic Og==", ""},
		{"PUT", "/nix-cache/k", "Authorization: AWS4-HMAC-SHA256 Credential=x/y", "body"},
		{"GET", "/nix-cache/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20200101%2Fus-east-1%2Fs3%2Faws4_request", "", ""},
		{"POST", "/nix-cache/k?uploadId=zz", "", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"},
	} {
		f.Add(s.method, s.target, s.hdr, s.body)
	}
	srv, err := server.Open(context.Background(), server.Options{Data: f.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	doc := []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:PutObject","s3:ListBucket","s3:DeleteObject"],"Resource":["arn:aws:s3:::nix-cache","arn:aws:s3:::nix-cache/*"]}]}`)
	if err := srv.Access().SetBucketPolicy(context.Background(), server.DefaultCache, doc); err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, target, hdr, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n\x00") || method == "" || strings.ContainsAny(method, " \r\n/:") {
			return // not something net/http would hand a handler
		}
		r, err := http.NewRequest(method, "http://127.0.0.1"+target, bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		r.RequestURI = target
		if k, v, ok := strings.Cut(hdr, ": "); ok && k != "" && !strings.ContainsAny(k+v, "\r\n\x00") {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s (%q, %d body bytes): %d %s", method, target, hdr, len(body), w.Code, w.Body.String())
		}
	})
}
