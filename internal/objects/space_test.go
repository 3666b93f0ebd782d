package objects_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// fakeSpace refuses writes while full and counts releases of its reserve.
type fakeSpace struct {
	full     bool
	reserve  bool
	released int
	admitted []int64
}

func (f *fakeSpace) Admit(size int64) error {
	f.admitted = append(f.admitted, size)
	if f.full {
		return fmt.Errorf("%w: test disk full", syscall.ENOSPC)
	}
	return nil
}

func (f *fakeSpace) Release() bool {
	if !f.reserve {
		return false
	}
	f.reserve = false
	f.released++
	return true
}

// fullMeta fails the next n deletes and aborts as SQLite does on a full
// disk, until the reserve is released.
type fullMeta struct {
	meta.Store
	space *fakeSpace
}

func (m fullMeta) DeleteObject(ctx context.Context, bucket, key string, check meta.Check) ([]meta.Segment, error) {
	if m.space.released == 0 {
		return nil, fmt.Errorf("delete object: database or disk is full (%w)", syscall.ENOSPC)
	}
	return m.Store.DeleteObject(ctx, bucket, key, check)
}

func (m fullMeta) AbortUpload(ctx context.Context, bucket, key, id string) ([]meta.Segment, error) {
	if m.space.released == 0 {
		return nil, fmt.Errorf("abort upload: database or disk is full (%w)", syscall.ENOSPC)
	}
	return m.Store.AbortUpload(ctx, bucket, key, id)
}

// On a full disk every write fails with ErrStorageFull before it reads the
// body, while deletes and aborts release the reserve and succeed.
func TestFullDiskRefusesWritesAndFreesReserveForDeletes(t *testing.T) {
	sp := &fakeSpace{reserve: true}
	s := newServiceOver(t, func(m meta.Store) meta.Store { return fullMeta{m, sp} })
	s.Space = sp
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), objects.InlineMax+1)
	put(t, s, "a", big)
	put(t, s, "b", big)
	u, err := s.CreateUpload(ctx, bucket, "mp", meta.Headers{}, "", "")
	if err != nil {
		t.Fatal(err)
	}

	sp.full = true
	body := &countingReader{r: bytes.NewReader(big)}
	_, err = s.Put(ctx, objects.PutInput{Bucket: bucket, Key: "c", Body: body, Size: int64(len(big))})
	if !errors.Is(err, objects.ErrStorageFull) {
		t.Fatalf("Put on a full disk: %v, want ErrStorageFull", err)
	}
	if body.n != 0 {
		t.Errorf("Put read %d bytes of a body it refused for space", body.n)
	}
	if sp.admitted[len(sp.admitted)-1] != int64(len(big)) {
		t.Errorf("Admit asked for %d bytes, want the declared %d", sp.admitted[len(sp.admitted)-1], len(big))
	}
	for name, err := range map[string]error{
		"CreateBucket": s.CreateBucket(ctx, "other"),
		"CreateUpload": func() error { _, err := s.CreateUpload(ctx, bucket, "mp2", meta.Headers{}, "", ""); return err }(),
		"UploadPart": func() error {
			_, err := s.UploadPart(ctx, objects.PartInput{Bucket: bucket, Key: "mp", UploadID: u.ID, Number: 1, Body: bytes.NewReader(big), Size: int64(len(big))})
			return err
		}(),
		"Copy": func() error {
			_, err := s.Copy(ctx, objects.CopyInput{Bucket: bucket, Key: "copy", SrcBucket: bucket, SrcKey: "a"})
			return err
		}(),
	} {
		if !errors.Is(err, objects.ErrStorageFull) {
			t.Errorf("%s on a full disk: %v, want ErrStorageFull", name, err)
		}
	}

	if err := s.Delete(ctx, bucket, "a", objects.Conditions{}); err != nil {
		t.Fatalf("Delete on a full disk: %v", err)
	}
	if sp.released != 1 {
		t.Errorf("reserve released %d times, want 1", sp.released)
	}
	if _, err := s.Head(ctx, bucket, "a"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("deleted object: %v, want NoSuchKey", err)
	}
	if err := s.AbortUpload(ctx, bucket, "mp", u.ID); err != nil {
		t.Fatalf("AbortUpload on a full disk: %v", err)
	}

	sp.full = false
	put(t, s, "c", big)
}

// A delete that fails for space with no reserve left reports a full disk.
func TestDeleteWithoutReserveReportsStorageFull(t *testing.T) {
	sp := &fakeSpace{}
	s := newServiceOver(t, func(m meta.Store) meta.Store { return fullMeta{m, sp} })
	s.Space = sp
	err := s.Delete(context.Background(), bucket, "a", objects.Conditions{})
	if !errors.Is(err, objects.ErrStorageFull) {
		t.Fatalf("Delete: %v, want ErrStorageFull", err)
	}
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
