package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Hook lets the layer above the core (the Nix binary cache) check and
// rewrite the small objects it cares about, such as narinfos, before they
// are stored, whichever protocol they came by.
type Hook interface {
	// Wants reports whether writes to key go through Put. Such bodies are
	// read whole, up to MaxHooked bytes, so they must be small.
	Wants(bucket, key string) bool
	// Put sees the body as uploaded, after the client's own digests were
	// checked. It returns what to store instead (or in.Body unchanged),
	// and may attach an index record; an error refuses the write and
	// nothing is stored.
	Put(ctx context.Context, in HookInput) (HookOutput, error)
}

// MaxHooked bounds the body of a hooked write.
const MaxHooked = 1 << 20

// HookInput is a hooked write.
type HookInput struct {
	Bucket, Key string
	Headers     meta.Headers
	Body        []byte
	// MayRead reports whether the writer may read key in the bucket (see
	// PutInput.MayRead); it is never nil.
	MayRead func(key string) bool
}

func mayNotRead(string) bool { return false }

// HookOutput is what a hook decided to store.
type HookOutput struct {
	Headers meta.Headers
	Body    []byte
	Narinfo *meta.Narinfo
}

// ErrRejected is returned (wrapped, with the hook's reason) when a hook
// refuses a write.
var ErrRejected = fmt.Errorf("rejected")

// putHooked buffers a hooked write, checks the client's claims, lets the
// hook decide, and stores the result.
func (s *Service) putHooked(ctx context.Context, in PutInput) (meta.Object, error) {
	body, err := io.ReadAll(io.LimitReader(in.Body, MaxHooked+1))
	if err != nil {
		return meta.Object{}, readError(err)
	}
	if len(body) > MaxHooked {
		return meta.Object{}, fmt.Errorf("%w: %s may be at most %d bytes", ErrEntityTooLarge, in.Key, MaxHooked)
	}
	h := newHashes(in.Verify, false)
	h.write(body)
	if _, err := h.finish(int64(len(body)), in.Size, in.Verify); err != nil {
		return meta.Object{}, err
	}
	mayRead := in.MayRead
	if mayRead == nil {
		mayRead = mayNotRead
	}
	out, err := s.Hook.Put(ctx, HookInput{Bucket: in.Bucket, Key: in.Key, Headers: in.Headers, Body: body, MayRead: mayRead})
	if err != nil {
		return meta.Object{}, err
	}
	// Store the result: the checks above were on the uploaded bytes, the
	// ETag and hashes below are of the stored ones.
	// The checksum kept is of the algorithm the client asked for (or the
	// default), over the stored bytes: a GET returns what it serves.
	w, err := s.write(ctx, bytes.NewReader(out.Body), int64(len(out.Body)), MaxHooked, Verify{Record: in.Verify.keeps()}, true)
	if err != nil {
		return meta.Object{}, err
	}
	obj := s.newObject(in.Bucket, in.Key, out.Headers, w)
	obj.Narinfo = out.Narinfo
	if in.KeepNarinfoTimes && obj.Narinfo != nil {
		if err := s.keepNarinfoTimes(ctx, in.Bucket, obj.Narinfo); err != nil {
			return meta.Object{}, err
		}
	}
	obj.Tags = in.Tags
	return s.commitPut(ctx, obj, in.Cond)
}

// keepNarinfoTimes gives rec the times of the record it replaces, if any
// (PutInput.KeepNarinfoTimes).
func (s *Service) keepNarinfoTimes(ctx context.Context, bucket string, rec *meta.Narinfo) error {
	old, err := s.Meta.Narinfo(ctx, bucket, rec.Hash)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return nil
	}
	if err != nil {
		return err
	}
	rec.Created, rec.LastAccess, rec.Copied = old.Created, old.LastAccess, true
	return nil
}
