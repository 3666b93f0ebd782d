package target

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// TestServerKeys checks the client side of GET /-/keys/BUCKET against a
// fake that follows the endpoint's contract: the bucket's public keys one
// per line, 404 when it has none.
func TestServerKeys(t *testing.T) {
	k1, _ := signature.Generate("cache-1")
	k2, _ := signature.Generate("cache-2")
	asked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked[r.URL.Path]++
		switch r.URL.Path {
		case "/-/keys/private": // as nixbucket: only readers learn the keys
			if r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
			w.Write([]byte(k1.Public().String() + "\n"))
		case "/-/keys/signed":
			w.Write([]byte(k1.Public().String() + "\n" + k2.Public().String() + "\n"))
		case "/-/keys/html":
			w.Write([]byte("<html>hello</html>\n"))
		case "/-/keys/empty":
			// 200 and nothing: no keys
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host := srv.Listener.Addr().String()

	tests := []struct {
		url   string
		token string
		want  int // keys; 0 for ErrNotFound, -1 for ErrKeysRefused
		path  string
	}{
		{srv.URL + "/private", "", -1, "/-/keys/private"},
		{srv.URL + "/private", "tok", 1, "/-/keys/private"},
		{srv.URL + "/signed", "", 2, "/-/keys/signed"},
		{srv.URL + "/signed/sub/dir", "", 2, "/-/keys/signed"},
		{"s3://signed?endpoint=" + host + "&scheme=http", "", 2, "/-/keys/signed"},
		{"s3://signed?endpoint=" + srv.URL + "&addressing-style=path", "", 2, "/-/keys/signed"},
		{srv.URL + "/unsigned", "", 0, "/-/keys/unsigned"},
		{srv.URL + "/html", "", 0, "/-/keys/html"},
		{srv.URL + "/empty", "", 0, "/-/keys/empty"},
		{"s3://aws-bucket", "", 0, ""}, // AWS: no server of ours to ask
		{"file:///tmp/cache", "", 0, ""},
	}
	for _, tt := range tests {
		u, err := storeurl.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		before := asked[tt.path]
		keys, err := ServerKeys(context.Background(), u, Options{BearerToken: tt.token})
		switch {
		case tt.want < 0 && !errors.Is(err, ErrKeysRefused):
			t.Errorf("%s: %d keys, error %v; want ErrKeysRefused", tt.url, len(keys), err)
		case tt.want == 0 && !errors.Is(err, ErrNotFound):
			t.Errorf("%s: %d keys, error %v; want ErrNotFound", tt.url, len(keys), err)
		case tt.want > 0 && (err != nil || len(keys) != tt.want):
			t.Errorf("%s: %d keys, error %v; want %d", tt.url, len(keys), err, tt.want)
		case tt.want > 0 && !keys[0].Equal(k1.Public()):
			t.Errorf("%s: first key %s, want %s", tt.url, keys[0], k1.Public())
		}
		if tt.path != "" && asked[tt.path] != before+1 {
			t.Errorf("%s: did not GET %s", tt.url, tt.path)
		}
	}
}

// TestServerKeysCABundle checks that an s3:// endpoint over TLS is asked
// with the certificates of AWS_CA_BUNDLE trusted, as the SDK trusts them.
func TestServerKeysCABundle(t *testing.T) {
	k, _ := signature.Generate("tls-cache-1")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(k.Public().String() + "\n"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := storeurl.Parse("s3://b?endpoint=" + srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	if _, err := ServerKeys(context.Background(), u, Options{}); err == nil {
		t.Fatal("without AWS_CA_BUNDLE, the test server's certificate was trusted")
	}
	t.Setenv("AWS_CA_BUNDLE", bundle)
	if keys, err := ServerKeys(context.Background(), u, Options{}); err != nil || len(keys) != 1 {
		t.Errorf("with AWS_CA_BUNDLE: %d keys, %v; want 1", len(keys), err)
	}
}
