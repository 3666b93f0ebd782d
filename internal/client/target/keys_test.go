package target

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
		if r.Header.Get("Authorization") != "" {
			t.Errorf("%s: sent credentials to an unauthenticated endpoint", r.URL.Path)
		}
		switch r.URL.Path {
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
		url  string
		want int // keys; 0 for ErrNotFound
		path string
	}{
		{srv.URL + "/signed", 2, "/-/keys/signed"},
		{srv.URL + "/signed/sub/dir", 2, "/-/keys/signed"},
		{"s3://signed?endpoint=" + host + "&scheme=http", 2, "/-/keys/signed"},
		{"s3://signed?endpoint=" + srv.URL + "&addressing-style=path", 2, "/-/keys/signed"},
		{srv.URL + "/unsigned", 0, "/-/keys/unsigned"},
		{srv.URL + "/html", 0, "/-/keys/html"},
		{srv.URL + "/empty", 0, "/-/keys/empty"},
		{"s3://aws-bucket", 0, ""}, // AWS: no server of ours to ask
		{"file:///tmp/cache", 0, ""},
	}
	for _, tt := range tests {
		u, err := storeurl.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		before := asked[tt.path]
		keys, err := ServerKeys(context.Background(), u)
		switch {
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
