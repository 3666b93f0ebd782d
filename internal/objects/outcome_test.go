package objects_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// lostAnswerMeta commits a put and then answers as a store whose
// connection failed after sending COMMIT: meta.ErrOutcomeUnknown.
type lostAnswerMeta struct{ meta.Store }

func (m lostAnswerMeta) PutObject(ctx context.Context, obj meta.Object, check meta.Check) ([]meta.Segment, error) {
	if _, err := m.Store.PutObject(ctx, obj, check); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("put object: %w: connection reset", meta.ErrOutcomeUnknown)
}

// A put whose commit may have landed keeps its blob: had it been
// discarded, the committed object would name a blob that is gone.
func TestPutOutcomeUnknownKeepsBlobs(t *testing.T) {
	s := newServiceOver(t, func(m meta.Store) meta.Store { return lostAnswerMeta{m} })
	body := bytes.Repeat([]byte("n"), objects.InlineMax+1) // a blob, not inline
	_, err := s.Put(context.Background(), objects.PutInput{Bucket: bucket, Key: "k", Body: bytes.NewReader(body), Size: int64(len(body))})
	if !errors.Is(err, meta.ErrOutcomeUnknown) {
		t.Fatalf("Put: %v, want ErrOutcomeUnknown", err)
	}
	if got := read(t, s, "k"); !bytes.Equal(got, body) {
		t.Fatalf("the committed object reads %d bytes, want its %d", len(got), len(body))
	}
}

// shortCopies is a blob backend keeping copies (as blobcache does) whose
// copy of every blob is one byte short until forgotten.
type shortCopies struct {
	storage.Backend
	forgotten map[string]bool
}

func (s *shortCopies) Forget(id string) { s.forgotten[id] = true }

func (s *shortCopies) Open(ctx context.Context, id string) (storage.Blob, error) {
	b, err := s.Backend.Open(ctx, id)
	if err != nil || s.forgotten[id] {
		return b, err
	}
	return shortBlob{b}, nil
}

type shortBlob struct{ storage.Blob }

func (b shortBlob) Size() int64 { return b.Blob.Size() - 1 }

// A copy of the wrong size is forgotten and the blob read from its
// source, instead of failing every read of the object.
func TestWrongSizeCopyIsForgotten(t *testing.T) {
	s := newService(t)
	body := bytes.Repeat([]byte("c"), objects.InlineMax+1)
	put(t, s, "k", body)
	sc := &shortCopies{Backend: s.Blobs, forgotten: map[string]bool{}}
	s.Blobs = sc
	if got := read(t, s, "k"); !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, want %d", len(got), len(body))
	}
	if len(sc.forgotten) != 1 {
		t.Errorf("forgotten %v, want the object's one blob", sc.forgotten)
	}
}
