package target

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

// TestS3CancelDuringCreate cancels a push while the server is creating
// its multipart upload: the upload must still be learnt and aborted, not
// left behind (the SIGINT case of e2e's TestPushKilled hit this).
func TestS3CancelDuringCreate(t *testing.T) {
	testKeys(t)
	creating := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var aborted []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodHead && r.URL.Path == "/bkt":
		case r.Method == http.MethodPost && q.Has("uploads"):
			close(creating)
			<-release
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>nar/x.nar</Key><UploadId>upload-1</UploadId></InitiateMultipartUploadResult>`))
		case r.Method == http.MethodDelete && q.Get("uploadId") != "":
			mu.Lock()
			aborted = append(aborted, q.Get("uploadId"))
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	defer srv.Close()
	store, err := storeurl.Parse("s3://bkt?region=us-east-1&endpoint=" + srv.URL + "&multipart-threshold=5M&multipart-chunk-size=5M")
	if err != nil {
		t.Fatal(err)
	}
	tg, err := Open(context.Background(), store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	f := spool.FromBytes(bytes.Repeat([]byte("n"), 6<<20))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-creating
		cancel()
		time.Sleep(50 * time.Millisecond) // the create answers after the cancel
		close(release)
	}()
	err = tg.Put(ctx, "nar/x.nar", f, Meta{ContentType: "application/x-nix-nar"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put: %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(aborted) != 1 || aborted[0] != "upload-1" {
		t.Errorf("aborted %q, want the upload created during the cancel", aborted)
	}
}

// testKeys gives the AWS default chain a test key and nothing else: no
// config or credentials files, no CA bundle.
func testKeys(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
}
