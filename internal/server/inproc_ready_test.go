package server_test

import (
	"os"
	"path/filepath"
	"testing"
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
