package server

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestSweepSharedBlobs: the sweep job of servers on PostgreSQL and an S3
// blob store (versitygw) removes a blob older than the grace period that
// nothing refers to (a node died between the blob's commit and its
// metadata, or before deleting it), and keeps a young unreferenced blob
// (a node may be about to refer to it), an old blob an object refers to,
// and an old blob a part of an upload in progress refers to.
func TestSweepSharedBlobs(t *testing.T) {
	url := testenv.Postgres(t)
	blobs := newSharedS3(t)
	// The node that writes, and does not sweep.
	w := startNode(t, Options{Meta: url, Blobs: blobs.url})
	ctx := t.Context()
	if err := w.srv.objects.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 2*objects.InlineMax)
	obj, err := w.srv.objects.Put(ctx, objects.PutInput{Bucket: "bkt", Key: "kept", Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Segments) != 1 || obj.Segments[0].Inline() {
		t.Fatalf("object of %d bytes has segments %v, want one blob", len(body), obj.Segments)
	}
	referenced := obj.Segments[0].Blob
	up, err := w.srv.objects.CreateUpload(ctx, "bkt", "unfinished", meta.Headers{}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	part, err := w.srv.objects.UploadPart(ctx, objects.PartInput{Bucket: "bkt", Key: "unfinished", UploadID: up.ID, Number: 1,
		Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		t.Fatal(err)
	}
	inPart := part.Segment.Blob
	// Blobs committed and never referenced: what a node that died
	// between the blob's commit and the metadata's leaves.
	orphan := func() string {
		bw, err := w.srv.blobs.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bw.Write(body)
		id, err := bw.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	old, young := orphan(), orphan()
	// Age every blob but young past the grace period, as the store
	// reports it (versitygw's LastModified is the file's mtime).
	past := time.Now().Add(-sweepGrace - time.Hour)
	for _, id := range []string{referenced, inPart, old} {
		if err := os.Chtimes(blobs.blobPath(id), past, past); err != nil {
			t.Fatal(err)
		}
	}

	// Another node sweeps.
	s := startNode(t, Options{Meta: url, Blobs: blobs.url, SweepInterval: 20 * time.Millisecond})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.logs.String(), `msg="swept the blob store"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no sweep logged in 20 s:\n%s", s.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(s.logs.String(), "blobs_removed=1 ") {
		t.Errorf("the sweep's log does not count the one old orphan:\n%s", s.logs.String())
	}
	for _, c := range []struct {
		what, id string
		kept     bool
	}{
		{"old unreferenced blob", old, false},
		{"young unreferenced blob", young, true},
		{"old blob of an object", referenced, true},
		{"old blob of an upload's part", inPart, true},
	} {
		_, err := os.Stat(blobs.blobPath(c.id))
		switch {
		case c.kept && err != nil:
			t.Errorf("%s %s: %v, want it kept", c.what, c.id, err)
		case !c.kept && !errors.Is(err, fs.ErrNotExist):
			t.Errorf("%s %s: %v, want it swept", c.what, c.id, err)
		}
		blob, err := s.srv.blobs.Open(ctx, c.id)
		if c.kept && err != nil {
			t.Errorf("%s %s: Open through the store: %v", c.what, c.id, err)
		} else if !c.kept && !storage.IsNotExist(err) {
			t.Errorf("%s %s: Open through the store: %v, want it missing", c.what, c.id, err)
		}
		if blob != nil {
			blob.Close()
		}
	}
	// What is kept still serves: the object reads whole, the upload
	// completes.
	_, r, err := s.srv.objects.Get(ctx, "bkt", "kept")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(r)
	r.Close()
	if !bytes.Equal(got.Bytes(), body) {
		t.Errorf("object after the sweep: %d bytes, want %d", got.Len(), len(body))
	}
	if _, err := s.srv.objects.CompleteUpload(ctx, "bkt", "unfinished", up.ID,
		[]objects.CompletedPart{{Number: 1, ETag: part.ETag}}, objects.Conditions{}, objects.CompleteChecksum{}); err != nil {
		t.Errorf("completing the upload after the sweep: %v", err)
	}
}
