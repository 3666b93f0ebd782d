package e2e

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestClusterAdminBlobs: the admin commands that delete objects, run as
// an operator runs them beside scale-out nodes (--meta only, no --blobs,
// from a directory that is no node's data directory), work on the S3
// blob store the nodes recorded, as README says: `bucket delete --force`
// succeeds and takes the bucket's blobs out of the store.
func TestClusterAdminBlobs(t *testing.T) {
	c := startCluster(t, 1)
	a := c.Nodes[0]
	root := newRawS3(a.AccessKey, a.SecretKey)
	defer root.close()
	const bucket = "admin-blobs"
	root.must(t, http.StatusOK, http.MethodPut, a.Endpoint, "/"+bucket, nil)
	// Over 16 KiB: a blob of its own in the store, not inline metadata.
	root.must(t, http.StatusOK, http.MethodPut, a.Endpoint, "/"+bucket+"/big", bytes.Repeat([]byte("nixbucket "), 10000))

	u, err := url.Parse(c.Blobs)
	if err != nil {
		t.Fatal(err)
	}
	dir := testenv.S3Store(t).ObjectPath(u.Host, strings.TrimPrefix(u.Path, "/")+"/blobs")
	count := func() int {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return 0 // versitygw removes a directory emptied of objects
		}
		if err != nil {
			t.Fatalf("listing the store's blobs: %v", err)
		}
		return len(entries)
	}
	before := count()
	if before == 0 {
		t.Fatalf("no blob in %s after a PUT of 100 kB", filepath.Base(dir))
	}
	c.admin(t, "bucket", "delete", bucket, "--force")
	if after := count(); after != before-1 {
		t.Errorf("the store holds %d blobs after bucket delete --force, %d before: want the bucket's one gone", after, before)
	}
	root.must(t, http.StatusNotFound, http.MethodGet, a.Endpoint, "/"+bucket+"/big", nil)
}
