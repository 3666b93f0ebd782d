package objects_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
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
