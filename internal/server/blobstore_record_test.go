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
	ctx := t.Context()
	if err := a.srv.objects.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 2*objects.InlineMax)
	if _, err := a.srv.objects.Put(ctx, objects.PutInput{Bucket: "bkt", Key: "k", Body: bytes.NewReader(body), Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	same := startNode(t, Options{Meta: url, Blobs: blobs.url})
	if strings.Contains(same.logs.String(), warning) {
		t.Errorf("a server with the same --blobs warned:\n%s", same.logs.String())
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
