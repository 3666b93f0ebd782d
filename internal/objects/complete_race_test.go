package objects_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// TestCompleteRace: two CompleteMultipartUploads of one upload, the
// second committing while the first is between its checks and its
// commit. The first to commit wins; the other, naming the same parts,
// is its repeat and answers the same object, as a sequential repeat does
// (S3 answers an SDK's retried completion 200); naming other parts it
// gets NoSuchUpload.
func TestCompleteRace(t *testing.T) {
	for _, c := range []struct {
		name  string
		same  bool
		want  error
		again bool
	}{
		{"same parts", true, nil, true},
		{"other parts", false, meta.ErrNoSuchUpload, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newService(t)
			ctx := context.Background()
			u, err := s.CreateUpload(ctx, bucket, "k", meta.Headers{}, "", "")
			if err != nil {
				t.Fatal(err)
			}
			var done []objects.CompletedPart
			for i, p := range [][]byte{bytes.Repeat([]byte("a"), objects.MinPartSize), []byte("tail")} {
				pt, err := s.UploadPart(ctx, objects.PartInput{Bucket: bucket, Key: "k", UploadID: u.ID, Number: i + 1, Body: bytes.NewReader(p), Size: int64(len(p))})
				if err != nil {
					t.Fatal(err)
				}
				done = append(done, objects.CompletedPart{Number: i + 1, ETag: pt.ETag})
			}
			loser := done
			if !c.same {
				loser = done[:1]
			}
			var winner meta.Object
			in := objects.Completion{Bucket: bucket, Key: "k", UploadID: u.ID, Parts: loser,
				// The other completion runs whole once this one has
				// passed its checks, before it commits.
				Checked: func() {
					if winner, err = s.CompleteUpload(ctx, bucket, "k", u.ID, done, objects.Conditions{}, objects.CompleteChecksum{}); err != nil {
						t.Errorf("the winning completion: %v", err)
					}
				}}
			obj, again, err := s.CompleteUploadAgain(ctx, in)
			if !errors.Is(err, c.want) || again != c.again {
				t.Fatalf("the losing completion: again %v, err %v; want %v, %v", again, err, c.again, c.want)
			}
			if err == nil && obj.ETag != winner.ETag {
				t.Errorf("the losing completion answered ETag %s, want the winner's %s", obj.ETag, winner.ETag)
			}
			if got := read(t, s, "k"); len(got) != objects.MinPartSize+4 {
				t.Errorf("object of %d bytes, want the winner's", len(got))
			}
		})
	}
}
