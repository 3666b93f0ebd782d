package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestBlobStoreMismatchWarns: a server joining servers on one PostgreSQL
// store with another --blobs (local blobs beside an S3 store, or another
// S3 bucket) says so at start; one with the same --blobs does not.
func TestBlobStoreMismatchWarns(t *testing.T) {
	url := testenv.Postgres(t)
	blobs := newSharedS3(t)
	const warning = "not the one recorded by the servers before it"
	a := startNode(t, Options{Meta: url, Blobs: blobs.url})
	a.holdBlob(t)
	same := startNode(t, Options{Meta: url, Blobs: blobs.url})
	if strings.Contains(same.logs.String(), warning) {
		t.Errorf("a server with the same --blobs warned:\n%s", same.logs.String())
	}
	// The same store spelled otherwise: a slash more, a parameter more.
	respelled := strings.Replace(blobs.url, "?", "/?region=us-east-1&", 1)
	other := startNode(t, Options{Meta: url, Blobs: respelled})
	if strings.Contains(other.logs.String(), warning) {
		t.Errorf("a server with the same store spelled %q warned:\n%s", respelled, other.logs.String())
	}
	local := startNode(t, Options{Meta: url})
	if !strings.Contains(local.logs.String(), warning) {
		t.Errorf("a server on local blobs beside S3 ones did not warn:\n%s", local.logs.String())
	}
	back := startNode(t, Options{Meta: url, Blobs: blobs.url})
	if !strings.Contains(back.logs.String(), warning) {
		t.Errorf("a server on the S3 store after one on local blobs did not warn:\n%s", back.logs.String())
	}
}

// TestLocalBlobsSecondNodeWarns: two servers on one PostgreSQL store, each
// on the local blobs of its own data directory, look alike by --blobs
// (both empty); the blob directory's id tells them apart. The second says
// at start that objects written through the first are missing here; the
// first restarted on its own data directory after the second says it too;
// a server restarted on the directory recorded last does not.
func TestLocalBlobsSecondNodeWarns(t *testing.T) {
	url := testenv.Postgres(t)
	const warning = "local blob directory is not the one the servers before it"
	dirA := t.TempDir()
	a := startNode(t, Options{Meta: url, Data: dirA})
	if strings.Contains(a.logs.String(), warning) {
		t.Errorf("the first server warned:\n%s", a.logs.String())
	}
	a.holdBlob(t)
	a.close()
	again := startNode(t, Options{Meta: url, Data: dirA})
	if strings.Contains(again.logs.String(), warning) {
		t.Errorf("the same server restarted on its own data directory warned:\n%s", again.logs.String())
	}
	again.close()
	b := startNode(t, Options{Meta: url})
	if !strings.Contains(b.logs.String(), warning) {
		t.Errorf("a second server on local blobs of its own did not warn:\n%s", b.logs.String())
	}
	b.close()
	back := startNode(t, Options{Meta: url, Data: dirA})
	if !strings.Contains(back.logs.String(), warning) {
		t.Errorf("the first server restarted after the second did not warn:\n%s", back.logs.String())
	}
}

// holdBlob makes the store hold an object in a blob (not inline) through
// the node.
func (n *node) holdBlob(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if err := n.srv.objects.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 2*objects.InlineMax)
	if _, err := n.srv.objects.Put(ctx, objects.PutInput{Bucket: "bkt", Key: "k", Body: bytes.NewReader(body), Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
}
