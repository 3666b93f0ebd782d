package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/server"
)

// benchServer opens a server whose nix-cache bucket is publicly readable
// and holds one small object.
func benchServer(b *testing.B) http.Handler {
	_, h := benchServerRoot(b)
	return h
}

// benchServerRoot is benchServer, with the server for its credentials.
func benchServerRoot(b *testing.B) (*server.Server, http.Handler) {
	return benchServerOpts(b, server.Options{})
}

// benchServerOpts is benchServerRoot with options.
func benchServerOpts(b *testing.B, opts server.Options) (*server.Server, http.Handler) {
	b.Helper()
	opts.Data, opts.Log = b.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.Open(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	doc := []byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::nix-cache/*"}]}`)
	if err := srv.Access().SetBucketPolicy(ctx, server.DefaultCache, doc); err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("n"), 600)
	if _, err := srv.Objects().Put(ctx, objects.PutInput{Bucket: server.DefaultCache, Key: "small.txt", Body: bytes.NewReader(body), Size: 600,
		Headers: meta.Headers{ContentType: "text/x-nix-narinfo"}}); err != nil {
		b.Fatal(err)
	}
	return srv, srv.Handler()
}

// discard is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler, not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func benchGET(b *testing.B, path string) {
	benchGETOpts(b, path, server.Options{})
}

func benchGETOpts(b *testing.B, path string, opts server.Options) {
	_, h := benchServerOpts(b, opts)
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("User-Agent", "curl/7.88.1 Nix/2.8.0")
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(&discard{h: http.Header{}}, r)
	}
}

// BenchmarkGETSmallHit is an anonymous narinfo-sized GET in a public cache.
func BenchmarkGETSmallHit(b *testing.B) { benchGET(b, "/nix-cache/small.txt") }

// BenchmarkGETSmallHitLogged is BenchmarkGETSmallHit with the access log
// on (in JSON, to a writer that keeps nothing): the cost of a line.
func BenchmarkGETSmallHitLogged(b *testing.B) {
	benchGETOpts(b, "/nix-cache/small.txt", server.Options{AccessLog: io.Discard, LogJSON: true})
}

// BenchmarkGETMiss is an anonymous GET of a missing key in a public cache.
func BenchmarkGETMiss(b *testing.B) { benchGET(b, "/nix-cache/missing.narinfo") }

// BenchmarkGETCacheInfo is an anonymous GET of the synthesised nix-cache-info.
func BenchmarkGETCacheInfo(b *testing.B) { benchGET(b, "/nix-cache/nix-cache-info") }

// BenchmarkGETSmallHitBasic is a narinfo-sized GET in a private cache with
// the admin key as HTTP Basic credentials (Nix's netrc).
func BenchmarkGETSmallHitBasic(b *testing.B) { benchGETBasic(b, "/nix-cache/small.txt") }

// BenchmarkGETMissBasic is a GET of a missing key with Basic credentials.
func BenchmarkGETMissBasic(b *testing.B) { benchGETBasic(b, "/nix-cache/missing.narinfo") }

func benchGETBasic(b *testing.B, path string) {
	srv, h := benchServerRoot(b)
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("User-Agent", "curl/7.88.1 Nix/2.8.0")
	r.SetBasicAuth(srv.Root.ID, srv.Root.Secret)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(&discard{h: http.Header{}}, r)
	}
}

// BenchmarkGETMissLogged is BenchmarkGETMiss with the access log on, in
// text, as `serve` writes it by default.
func BenchmarkGETMissLogged(b *testing.B) {
	benchGETOpts(b, "/nix-cache/missing.narinfo", server.Options{AccessLog: io.Discard})
}
