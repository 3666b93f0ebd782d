package objects_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// TestAnnotate: notes and a computed SHA-256 are added to an object's
// record without changing its bytes, ETag or time; an object replaced
// meanwhile is left alone; clients cannot write notes themselves.
func TestAnnotate(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	body := bytes.Repeat([]byte("annotated "), 10000) // a blob, not inline
	obj, err := s.Put(ctx, objects.PutInput{Bucket: bucket, Key: "k", Body: bytes.NewReader(body), Size: int64(len(body)),
		Headers: meta.Headers{UserMeta: map[string]string{objects.NotePrefix + "x": "forged", "mine": "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.Headers.UserMeta[objects.NotePrefix+"x"]; ok || obj.Headers.UserMeta["mine"] != "1" {
		t.Fatalf("a client's note was stored: %v", obj.Headers.UserMeta)
	}
	if err := s.Annotate(ctx, obj, nil, map[string]string{objects.NotePrefix + "x": "computed"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Head(ctx, bucket, "k")
	if err != nil {
		t.Fatal(err)
	}
	if got.Headers.UserMeta[objects.NotePrefix+"x"] != "computed" || got.Headers.UserMeta["mine"] != "1" ||
		got.ETag != obj.ETag || !got.Modified.Equal(obj.Modified) {
		t.Fatalf("annotated record %+v, was %+v", got, obj)
	}
	if !bytes.Equal(read(t, s, "k"), body) {
		t.Fatal("bytes changed by Annotate")
	}
	if n, err := s.Sweep(ctx, got.Modified.Add(1e12)); err != nil || n != 0 {
		t.Fatalf("Sweep after Annotate removed %d blobs, %v", n, err)
	}

	// A stale record (the object was replaced) is not annotated.
	newer := put(t, s, "k", []byte("newer"))
	if err := s.Annotate(ctx, obj, bytes.Repeat([]byte{1}, 32), map[string]string{objects.NotePrefix + "x": "stale"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Head(ctx, bucket, "k")
	sum := sha256.Sum256([]byte("newer"))
	if got.ETag != newer.ETag || got.Headers.UserMeta[objects.NotePrefix+"x"] != "" || !bytes.Equal(got.SHA256, sum[:]) {
		t.Fatalf("a replaced object was annotated: %+v", got)
	}
}
