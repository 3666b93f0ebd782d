package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestReadyLocalBlobs: on the embedded backends, GET /-/ready fails,
// naming the blob store, while the data directory's blobs/ is gone (a
// disk unmounted under a running server), and passes again once it is
// back. (TestBackendUnreachable covers PostgreSQL and S3.)
func TestReadyLocalBlobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	blobs := filepath.Join(e.data, "blobs")
	wantReady(t, e, "")
	if err := os.Rename(blobs, blobs+".away"); err != nil {
		t.Fatal(err)
	}
	wantReady(t, e, "the blob store")
	if err := os.Rename(blobs+".away", blobs); err != nil {
		t.Fatal(err)
	}
	wantReady(t, e, "")
	e.rec.take5xx()
}

// TestReadyStoreRefusesCredentials: a node whose S3 store refuses its
// credentials (revoked keys, expired session credentials) can serve no
// blob, so GET /-/ready fails naming the blob store, as when the store
// is unreachable; it passes again once the store accepts them.
func TestReadyStoreRefusesCredentials(t *testing.T) {
	st := testenv.S3Store(t)
	storeBucket := st.NewBucket(t)
	useStoreCredentials(t, st)
	target, err := url.Parse(st.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	e := newEnv(t, withBlobs("s3://"+storeBucket+"/nb?endpoint="+proxy.URL))
	wantReady(t, e, "")
	refuse.Store(true)
	wantReady(t, e, "the blob store")
	refuse.Store(false)
	wantReady(t, e, "")
	e.rec.take5xx()
}
