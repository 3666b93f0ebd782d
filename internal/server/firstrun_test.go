package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/server"
)

// TestBannerScheme: the first-start banner prints the URLs of the scheme
// the server is served over, https under --tls-cert, everywhere a URL or
// an s3:// scheme= parameter appears.
func TestBannerScheme(t *testing.T) {
	for _, tc := range []struct{ scheme, want, wantS3, not string }{
		{"", "http://127.0.0.1:9000", "scheme=http&", "https://"},
		{"https", "https://127.0.0.1:9443", "scheme=https&", "http://127"},
	} {
		srv, err := server.Open(context.Background(), server.Options{
			Data: t.TempDir(), Scheme: tc.scheme, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		addr := strings.TrimPrefix(strings.TrimPrefix(tc.want, "https://"), "http://")
		if got := srv.URL(addr); got != tc.want {
			t.Errorf("Scheme %q: URL(%q) = %q, want %q", tc.scheme, addr, got, tc.want)
		}
		b := srv.Banner(context.Background(), srv.URL(addr), "")
		if !strings.Contains(b, "substituter:         "+tc.want+"/"+server.DefaultCache) || !strings.Contains(b, tc.wantS3) || strings.Contains(b, tc.not) {
			t.Errorf("Scheme %q: banner does not use %s (and %s) only:\n%s", tc.scheme, tc.want, tc.wantS3, b)
		}
		srv.Close()
	}
}
